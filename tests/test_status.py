"""`landmarks status`: a stopped run's step and the command that resumes it, a run being trained
now, and a damaged checkpoint named without hiding the others."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from landmarks.lock import COMMAND_ENV, exclusive, invocation
from landmarks.train.checkpoint import Checkpointer

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


def status(ws: Path, *extra: str) -> str:
    out = subprocess.run([str(BIN / "landmarks"), "status", *extra], cwd=ws, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_status_gives_a_stopped_runs_step_and_the_command_that_resumes_it(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", epochs=40)
    catalog = ws / "benchmarks" / f"{LANDMARK}.yaml"
    data = yaml.safe_load(catalog.read_text())
    data["profiles"]["quick"]["recipe"]["max_steps"] = 600  # a budget in steps, as ResNet's 64,000
    data["profiles"]["quick"]["seeds"] = [7, 8]
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    folder = ws / "checkpoints" / "quick" / LANDMARK
    assert "no training in progress under checkpoints/" in status(ws)

    # a claim whose name has a space: the command given back must quote it as it was typed; and
    # without --restart, which would set the checkpoints aside
    cmd = [str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking", "--checkpoint-every-steps", "50",
           "--claim", "mlp 64x100"]
    proc = subprocess.Popen([*cmd, "--restart"], cwd=ws, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = folder / "mlp_64x100-seed8.pt"  # seed 7 has finished by then
    deadline = time.time() + 120
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # checkpoints and exits
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM, "the run finished before it could be stopped"
    saved = torch.load(ckpt, weights_only=True)["state"]

    text = status(ws)
    assert f"{LANDMARK} [quick]: stopped; resume with: {shlex.join(cmd)}" in text
    assert f"mlp 64x100, seed 8: step {saved['step']:,} of 600 ({100 * saved['step'] / 600:.0f}%), " \
           f"epoch {saved['epoch']} of 40; trained " in text
    assert "left at its pace" in text
    # the first checkpoint, at step 50, comes after the first epoch's evaluation (38 steps an epoch)
    last = [row for row in saved["history"] if row.get("val_error") is not None][-1]
    assert f"last validation error {last['val_error']:.2f}% at epoch {last['epoch']}" in text
    # seed 7's result and final weights wait beside the checkpoint: counted, not read as a checkpoint
    assert (folder / "mlp_64x100-seed7.weights.pt").exists() and "problem" not in text
    assert "finished: 1 of 2 runs of the profile" in text and "seed 7:" not in text
    assert status(ws, "--profile", "classic").startswith("no training in progress")
    resume = text.split("resume with: ")[1].splitlines()[0]

    (folder / "mlp_64x100-seed9.pt").write_bytes(b"not a checkpoint")
    text = status(ws)
    assert "problem: mlp_64x100-seed9.pt: cannot be read" in text and "mlp 64x100, seed 8: step" in text
    (folder / "mlp_64x100-seed9.pt").unlink()

    with exclusive(folder / "lock", LANDMARK):  # a process on it now: this one
        assert f"{LANDMARK} [quick]: training now (process {os.getpid()}," in status(ws)

    resumed = subprocess.run(["bash", "-c", resume], cwd=ws, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0 and "resuming from step" in resumed.stderr, resumed.stderr
    assert "no training in progress" in status(ws)


def test_the_command_kept_for_resuming_is_the_one_typed(monkeypatch):
    """A process torchrun started (`python -m landmarks ...`) keeps the torchrun command that
    starts it again; one that `landmarks train --nproc-per-node` started keeps that command."""
    monkeypatch.delenv(COMMAND_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["/venv/bin/landmarks", "train", "x", "--claim", "2-layer NN, 300 HU"])
    assert invocation() == "/venv/bin/landmarks train x --claim '2-layer NN, 300 HU'"
    monkeypatch.setattr(sys, "argv", ["/src/landmarks/__main__.py", "train", "x"])
    assert invocation() == shlex.join([sys.executable, "-m", "landmarks", "train", "x"])
    for name, value in {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "GROUP_WORLD_SIZE": "1"}.items():
        monkeypatch.setenv(name, value)
    assert invocation() == "torchrun --nproc-per-node=2 --nnodes=1 -m landmarks train x"
    monkeypatch.setenv("GROUP_WORLD_SIZE", "2")  # two nodes: their rendezvous options are not known here
    assert invocation() == ("torchrun --nproc-per-node=2 --nnodes=2 -m landmarks train x"
                            "  # on each node, with its --rdzv-endpoint and --node-rank")
    monkeypatch.setenv(COMMAND_ENV, "landmarks train x --nproc-per-node 2")
    assert invocation() == "landmarks train x --nproc-per-node 2"


def test_the_time_left_follows_the_pace_between_the_last_two_checkpoints(tmp_path):
    """A DQN's first 50,000 steps, with no updates, run many times faster than the rest: the time
    left is paced from the latest stretch between checkpoints, which a resumed run carries on."""
    from landmarks.status import RunState

    first = Checkpointer(tmp_path / "run.pt", {"seed": 0})
    for step in (10, 20):
        first.save({"state": {"step": step}}, step)
    again = Checkpointer(tmp_path / "run.pt", {"seed": 0})
    assert again.load(strict=True) is not None
    again.save({"state": {"step": 30}}, 30)
    marks = torch.load(tmp_path / "run.pt", weights_only=True)["extra"]["marks"]
    assert [m[0] for m in marks] == [20, 30] and marks[1][1] >= marks[0][1]

    run = RunState("DQN, Pong", 1, step=100_000, budget=1_000_000, epoch=None, epochs=None, seconds=600.0,
                   saved=0.0, recent=(20_000, 240.0))
    assert run.left() == pytest.approx(900_000 * 240 / 20_000)  # 3 h, not the 1.5 h of the average pace
    assert RunState("x", 0, 100, 1_000, None, None, 50.0, 0.0).left() == pytest.approx(900 * 50 / 100)
