"""Progress of a run: a tqdm bar on a terminal, plain lines in logs (per epoch with -v), never
`val nan%` where there is no validation split."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


def test_logs_get_epoch_n_of_total_with_v(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    out = subprocess.run([str(BIN / "landmarks"), "-v", "train", LANDMARK, "--no-tracking"], cwd=ws,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = [ln for ln in out.stderr.splitlines() if "mlp 64x100, seed 7: epoch" in ln]
    assert [ln.split("epoch ")[1].split()[0] for ln in lines] == ["1/3", "2/3", "3/3"]
    assert "min left" in lines[0] and "nan" not in out.stderr


def test_logs_without_v_stay_short(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    out = subprocess.run([str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking"], cwd=ws,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    # epochs this short print no line of their own (one a minute at most); the run's result does
    assert "epoch 1/3" not in out.stderr and "[1/1] mlp 64x100, seed 7" in out.stderr


def _on_a_terminal(ws: Path, columns: int, *extra: str) -> str:
    """What a run writes to a pseudo-terminal of `columns` columns."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen([str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking", *extra], cwd=ws,
                            stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process has exited
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    return b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_a_progress_bar(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    screen = _on_a_terminal(ws, 120)
    assert "mlp 64x100, seed 7" in screen and "3/3" in screen and "epoch" in screen  # tqdm's n/N and unit
    assert "loss" in screen and "train" in screen


def test_the_time_left_after_a_resume_is_paced_by_the_epochs_run_since(monkeypatch, caplog):
    """A run resumed at epoch 100 of 140 has run one epoch in this process: 39 more at that pace,
    not 39 at a hundredth of it."""
    import logging

    from landmarks import progress

    clock = iter([1000.0, 1000.0 + 60.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    bar = progress.RunProgress("net, seed 0", 140)
    with caplog.at_level(logging.INFO, logger="landmarks.runner"):
        bar.epoch({"epoch": 101, "train_error": 5.0, "seconds": 60.0})
    assert "about 39.0 min left" in caplog.text


def test_a_run_budgeted_in_steps_is_paced_by_its_steps_from_where_it_resumed(monkeypatch, caplog):
    """ResNet-20's 64k iterations resumed at step 1,755: 351 steps later, 300 s in this process,
    the time left is (64,000 - 2,106) steps at that pace, and the line says the step of the budget.
    Before, such runs had no time left at all (their epochs are not their budget)."""
    import logging

    from landmarks import progress

    clock = iter([1000.0, 1300.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    bar = progress.RunProgress("ResNet-20, seed 0", None, total_steps=64_000, start_step=1_755)
    with caplog.at_level(logging.INFO, logger="landmarks.runner"):
        bar.epoch({"epoch": 6, "step": 2_106, "train_error": 30.0, "seconds": 300.0})
    left_h = 300.0 / 351 * (64_000 - 2_106) / 3600
    assert "epoch 6 (step 2,106 of 64,000)" in caplog.text and f"about {left_h:.1f} h left" in caplog.text


def test_a_resumed_dqn_run_gets_no_partial_period_as_its_time(monkeypatch, caplog):
    """A DQN curve row counts agent steps and has no time of its own: resumed at agent step 92,553,
    the first row (at 100,000) gives no seconds, not `nan s`, and its time left comes from the
    7,447 steps run here, not from a whole tenth of the budget. The next row gives its own time."""
    import logging

    from landmarks import progress

    clock = iter([0.0, 60.0, 860.0])
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    bar = progress.RunProgress("DQN, Pong, seed 0", 10, total_steps=1_000_000, start_step=92_553)
    with caplog.at_level(logging.DEBUG, logger="landmarks.runner"):
        bar.epoch({"epoch": 1, "agent_steps": 100_000, "eval_score": -21.0})
        bar.epoch({"epoch": 2, "agent_steps": 200_000, "eval_score": -20.0, "train_score": -19.5})
    first, second = [ln for ln in caplog.text.splitlines() if "DQN, Pong" in ln]
    assert "nan" not in caplog.text and " s, " not in first
    assert "score -21.0" in first and "score -20.0 (training games -19.5)" in second  # how it plays
    assert f"about {60.0 / 7_447 * 900_000 / 3600:.1f} h left" in first
    assert "(800.0 s, " in second


def test_a_terminal_of_zero_columns_gets_the_plain_lines(tmp_path, digits_workspace):
    """A pseudo-terminal that reports 0 columns would show a bar as nothing: the plain lines instead."""
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    screen = _on_a_terminal(ws, 0, "-v")
    assert "mlp 64x100, seed 7: epoch 1/3" in screen and "epoch 3/3" in screen


def test_each_task_tells_the_progress_lines_its_budget_in_steps():
    """DQN's budget is its agent steps; an image run's, its recipe's max_steps (None: in epochs)."""
    import landmarks.tasks  # noqa: F401  (registers the tasks)
    from landmarks.tasks.registry import TASKS
    from landmarks.train.recipe import Recipe

    recipe = Recipe(max_steps=64_000, dqn={"steps": 1_000_000})
    assert TASKS.get("dqn").steps_budget(recipe) == 1_000_000
    assert TASKS.get("classify").steps_budget(recipe) == 64_000
    assert TASKS.get("classify").steps_budget(Recipe()) is None


def test_on_a_terminal_a_budget_in_steps_gets_a_bar_of_steps(monkeypatch, capsys, caplog):
    """Resumed at step 1,755 of 64,000, the bar counts steps from there (its n/N), not epochs
    of an unknown total."""
    from landmarks import progress

    import logging

    monkeypatch.setattr(progress, "_terminal_width", lambda: 120)
    with caplog.at_level(logging.INFO, logger="landmarks.runner"):  # -q would show no bar
        bar = progress.RunProgress("ResNet-20, seed 0", None, total_steps=64_000, start_step=1_755)
    bar.epoch({"epoch": 6, "step": 2_106, "train_error": 30.0, "train_loss": 0.9, "seconds": 300.0})
    assert bar.bar.n == 2_106 and bar.bar.total == 64_000
    bar.close()
    screen = capsys.readouterr().err
    assert "2.11k/64.0k" in screen and "epoch 6" in screen
