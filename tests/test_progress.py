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


def test_a_terminal_of_zero_columns_gets_the_plain_lines(tmp_path, digits_workspace):
    """A pseudo-terminal that reports 0 columns would show a bar as nothing: the plain lines instead."""
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    screen = _on_a_terminal(ws, 0, "-v")
    assert "mlp 64x100, seed 7: epoch 1/3" in screen and "epoch 3/3" in screen
