"""Interruptions that lost work or split the records: SIGHUP (a closed terminal, a dropped ssh
connection) killed a run without a checkpoint, and a torchrun job restarted after a worker died
left two MLflow parents. Real processes, a real MLflow store (sqlite)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from waiting import wait_for

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"
KEY = "mlp_64x100-seed7"


def env(ws: Path) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}


def runs_of(ws: Path) -> list:
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    return client.search_runs([client.get_experiment_by_name(f"landmarks/{LANDMARK}").experiment_id])


def epochs_logged(record: Path) -> int:
    try:
        return json.loads(record.read_text())["logged_through"]
    except (OSError, ValueError, KeyError):  # not written yet, or being replaced
        return 0


def _ignore_hangup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # what `nohup` does before it starts the command


def _hang_up_after_first_epoch(ws: Path, command: list[str], err: Path, **popen) -> tuple[subprocess.Popen, int]:
    """Start the run, and send SIGHUP once MLflow has its first epoch: as early as a checkpoint can
    hold any work, so the run is hundreds of epochs from its end whatever the cores' speed. Its
    stderr goes to a file, not a pipe nobody reads until the end, which could stall it."""
    record = ws / "checkpoints" / "quick" / LANDMARK / "mlflow-runs" / f"{KEY}.json"
    with err.open("w") as sink:
        proc = subprocess.Popen(command, cwd=ws, env=env(ws), stdout=subprocess.DEVNULL, stderr=sink, text=True, **popen)
    wait_for(lambda: epochs_logged(record) >= 1, proc, "the first epoch logged", log=err)
    at = epochs_logged(record)
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=300)
    return proc, at


@pytest.mark.slow
def test_sighup_writes_a_checkpoint_and_the_same_command_resumes(tmp_path, digits_workspace):
    """Periodic checkpoints are out of reach (every 10^6 steps), so the only checkpoint there can
    be is the one the signal writes. Under `nohup` (SIGHUP ignored) the run goes on instead."""
    ws = digits_workspace(tmp_path / "ws", epochs=400)
    folder = ws / "checkpoints" / "quick" / LANDMARK
    command = [str(BIN / "landmarks"), "train", LANDMARK, "--checkpoint-every-steps", "1000000"]
    proc, at = _hang_up_after_first_epoch(ws, command, tmp_path / "hup.err")
    err = (tmp_path / "hup.err").read_text()
    assert proc.returncode == 128 + signal.SIGHUP, f"signalled at epoch {at} of 400\n{err}"
    assert "stopped by signal 1" in err and (folder / f"{KEY}.pt").exists(), err
    (killed,) = [r for r in runs_of(ws) if "mlflow.parentRunId" in r.data.tags]
    assert killed.info.status == "KILLED"

    done = subprocess.run(command, cwd=ws, env=env(ws), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "resuming from step" in done.stderr, done.stderr
    (child,) = [r for r in runs_of(ws) if "mlflow.parentRunId" in r.data.tags]
    assert child.info.run_id == killed.info.run_id and child.info.status == "FINISHED"

    ws = digits_workspace(tmp_path / "nohup", epochs=60)
    proc, _ = _hang_up_after_first_epoch(ws, command, tmp_path / "nohup.err", preexec_fn=_ignore_hangup)
    err = (tmp_path / "nohup.err").read_text()
    assert proc.returncode == 0 and "stopped by signal" not in err, err


def _descendants(pid: int) -> list[int]:
    """The processes under `pid` (torchrun's agent and its workers), from /proc."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, parent in parents.items() if parent == p]
        found += kids
        todo += kids
    return found


def _rank(pid: int) -> str | None:
    try:
        env_vars = (Path("/proc") / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    return next((v.split(b"=", 1)[1].decode() for v in env_vars if v.startswith(b"RANK=")), None)


@pytest.mark.slow
def test_a_torchrun_restart_keeps_one_mlflow_parent(tmp_path, catalog_dir, digits_dir):
    """SIGKILL of rank 1 under `--max-restarts 1`: rank 0 fails or is stopped, torchrun restarts both,
    and they resume. Before, the first parent ended FAILED holding the child run and a second,
    FINISHED parent held the verdicts with no child."""
    ws = tmp_path / "ws"
    (ws / "benchmarks").mkdir(parents=True)
    data = yaml.safe_load((catalog_dir / f"{LANDMARK}.yaml").read_text())
    data["claims"], data["orderings"] = [data["claims"][1]], []
    data["recipe"].update(batch_size=31, parallel="data", epochs=60)
    data["profiles"] = {"quick": {"seeds": [0]}}
    (ws / "benchmarks" / f"{LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (ws / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(digits_dir)}, "train": {"deterministic": True}}))
    job = subprocess.Popen([str(BIN / "landmarks"), "train", LANDMARK, "--nproc-per-node", "2", "--max-restarts", "1",
                            "--checkpoint-every-steps", "150"], cwd=ws, env=env(ws), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    checkpoint = ws / "checkpoints" / "quick" / LANDMARK / "mlp_64x100-seed0.pt"
    wait_for(checkpoint.exists, job, "a checkpoint")
    (worker,) = [p for p in _descendants(job.pid) if _rank(p) == "1"]
    os.kill(worker, signal.SIGKILL)
    _, err = job.communicate(timeout=600)
    assert job.returncode == 0 and "resuming from step" in err, err

    runs = runs_of(ws)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [(r.info.status, r.info.run_id) for r in parents]
    (parent,) = parents
    assert parent.info.status == "FINISHED" and parent.data.tags["verdict/mlp 64x100"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert [c.data.tags["mlflow.parentRunId"] for c in children] == [parent.info.run_id]
    assert children[0].info.status == "FINISHED"
