"""Failure modes found by trying to break a run: SIGKILL before the first checkpoint, two processes
on one landmark, read-only folders, a full disk. Real processes, real files, a real MLflow store;
each ends in one clear message and an exit code (2 bad input, 3 data, 4 training), never a
traceback, and loses nothing already stored."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient
from waiting import wait_for

from landmarks.run_files import read_outputs

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"
KEY = "mlp_64x100-seed7"


def env(ws: Path) -> dict:
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{ws / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}


def train(ws: Path, *extra: str, **kw) -> list:
    return [str(BIN / "landmarks"), "train", LANDMARK, *extra]


def runs_of(ws: Path) -> tuple[MlflowClient, list]:
    client = MlflowClient(f"sqlite:///{ws / 'mlflow.db'}")
    exp = client.get_experiment_by_name(f"landmarks/{LANDMARK}")
    return client, client.search_runs([exp.experiment_id])


def children(runs: list) -> list:
    return [r for r in runs if "mlflow.parentRunId" in r.data.tags]


def steps(client: MlflowClient, run_id: str, key: str = "train_loss") -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, key))


@pytest.mark.slow
def test_sigkill_before_the_first_checkpoint_leaves_no_orphan_run(tmp_path, digits_workspace):
    """The child's MLflow id is on disk before training: a kill before the first checkpoint (5
    minutes in by default) resumes the same run, which ends FINISHED with each epoch logged once."""
    ws = digits_workspace(tmp_path / "ws", epochs=400)
    record = ws / "checkpoints" / "quick" / LANDMARK / "mlflow-runs" / f"{KEY}.json"
    proc = subprocess.Popen(train(ws, "-v"), cwd=ws, env=env(ws), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    wait_for(lambda: record.exists() and json.loads(record.read_text())["logged_through"] >= 3, proc,
             "three epochs logged")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (ws / "checkpoints" / "quick" / LANDMARK / f"{KEY}.pt").exists()  # before any checkpoint
    client, runs = runs_of(ws)
    (killed,) = children(runs)
    assert killed.info.status == "RUNNING"  # what SIGKILL leaves: nothing could end it

    done = subprocess.run(train(ws), cwd=ws, env=env(ws), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    client, runs = runs_of(ws)
    (child,) = children(runs)  # the same run, not a second one
    assert child.info.run_id == killed.info.run_id and child.info.status == "FINISHED"
    assert all(r.info.status == "FINISHED" for r in runs)
    assert steps(client, child.info.run_id) == list(range(1, 401))  # each epoch once
    assert not record.exists()


@pytest.mark.slow
def test_a_resumed_run_logs_each_epoch_once(tmp_path, digits_workspace):
    """Killed after a checkpoint, the resumed process re-trains the epochs after it, some of which
    the killed one had logged: MLflow gets each epoch once."""
    ws = digits_workspace(tmp_path / "ws", epochs=300)
    folder = ws / "checkpoints" / "quick" / LANDMARK
    proc = subprocess.Popen(train(ws, "--checkpoint-every-steps", "90"), cwd=ws, env=env(ws),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    record = folder / "mlflow-runs" / f"{KEY}.json"
    # a checkpoint, then more epochs logged than it holds
    wait_for(lambda: (folder / f"{KEY}.pt").exists() and record.exists()
             and json.loads(record.read_text())["logged_through"] >= 40, proc, "a checkpoint and 40 epochs")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = subprocess.run(train(ws, "--checkpoint-every-steps", "90"), cwd=ws, env=env(ws), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "resuming from step" in done.stderr, done.stderr
    client, runs = runs_of(ws)
    (child,) = children(runs)
    for key in ("train_loss", "test_error", "val_error"):
        assert steps(client, child.info.run_id, key) == list(range(1, 301)), key


@pytest.mark.slow
def test_a_second_process_on_the_same_landmark_is_refused(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", epochs=5000)
    lock = ws / "checkpoints" / "quick" / LANDMARK / "lock"
    first = subprocess.Popen(train(ws, "--no-tracking"), cwd=ws, env=env(ws), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lock.exists() and str(first.pid) in lock.read_text(), first, "the lock")
        second = subprocess.run(train(ws, "--no-tracking"), cwd=ws, env=env(ws), capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 4, second.stderr
        assert f"already being trained by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None  # the first one goes on
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # a SIGKILLed holder leaves no stale lock: the next process takes it (and resumes)
    again = subprocess.Popen(train(ws, "--no-tracking"), cwd=ws, env=env(ws), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: str(again.pid) in lock.read_text(), again, "the lock taken again")
    finally:
        again.send_signal(signal.SIGKILL)
        again.wait()


@contextlib.contextmanager
def read_only(folder: Path):
    """`folder` read-only for this user: a permission change, or for root (whom permissions do not
    stop) a read-only bind mount of it onto itself."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
    if not mounted or subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], capture_output=True).returncode:
        if mounted:
            subprocess.run(["umount", str(folder)])
        pytest.skip("root here, and no read-only bind mount allowed")
    try:
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_models_folder_is_refused_before_training(tmp_path, digits_workspace):
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    models = ws / "models"
    with read_only(models):
        out = subprocess.run(train(ws, "--no-tracking"), cwd=ws, env=env(ws), capture_output=True, text=True,
                             timeout=120)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and f"cannot write to models/quick/{LANDMARK}" in out.stderr
    assert "--models" in out.stderr and "nothing was trained" in out.stderr
    assert not (ws / "checkpoints" / "quick" / LANDMARK / f"{KEY}.result.json").exists()


@pytest.mark.slow
def test_a_folder_turned_read_only_mid_run_keeps_the_finished_result(tmp_path, digits_workspace):
    """models/ becomes read-only while the run trains: the run's result waits in the checkpoint
    folder, and once models/ is writable the same command writes it without training again."""
    ws = digits_workspace(tmp_path / "ws", epochs=300)
    out_dir = ws / "models" / "quick" / LANDMARK
    folder = ws / "checkpoints" / "quick" / LANDMARK
    proc = subprocess.Popen(train(ws, "--no-tracking", "--checkpoint-every-steps", "90"), cwd=ws, env=env(ws),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (folder / f"{KEY}.pt").exists(), proc, "the first checkpoint")
    with read_only(out_dir):
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 4, err
    assert "Traceback" not in err and f"cannot write models/quick/{LANDMARK}/weights" in err, err
    assert f"finished runs are kept in checkpoints/quick/{LANDMARK}" in err
    assert (folder / f"{KEY}.result.json").exists()  # the finished run, kept
    done = subprocess.run(train(ws, "--no-tracking", "-v"), cwd=ws, env=env(ws), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resumed" in done.stderr and "epoch 1/" not in done.stderr  # taken, not trained again
    assert (out_dir / "metrics.json").exists() and (out_dir / "weights" / f"{KEY}.pt").exists()


def _limit_file_size(nbytes: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))

    return apply


@pytest.mark.slow
def test_no_space_for_a_checkpoint_is_one_message_and_leaves_no_partial_file(tmp_path, digits_workspace):
    """`ulimit -f` (a file size limit) stands for a full disk: the write fails the same way."""
    ws = digits_workspace(tmp_path / "ws", epochs=40)
    folder = ws / "checkpoints" / "quick" / LANDMARK
    out = subprocess.run(train(ws, "--no-tracking", "--checkpoint-every-steps", "9"), cwd=ws, env=env(ws),
                         capture_output=True, text=True, timeout=300, preexec_fn=_limit_file_size(64 * 1024))
    assert out.returncode == 4, out.stderr
    assert "Traceback" not in out.stderr
    assert f"at checkpoints/quick/{LANDMARK} writing {KEY}.pt" in out.stderr, out.stderr
    assert "raise the file size limit (`ulimit -f`) and run again" in out.stderr
    assert not [p.name for p in folder.rglob("*tmp-*")]  # no partial file left to fill the disk
    # with room again, the same command completes
    done = subprocess.run(train(ws, "--no-tracking", "--checkpoint-every-steps", "9"), cwd=ws, env=env(ws),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (ws / "models" / "quick" / LANDMARK / "metrics.json").exists()


@pytest.mark.slow
def test_a_checkpoint_too_big_for_the_room_left_is_the_same_one_message(tmp_path, digits_workspace):
    """When one write of torch's zip writer (a weight matrix of 1.6 MB) overshoots the room left,
    torch says "unexpected pos ..." with the OSError only as its context: still the disk-full
    message and exit 4, with no partial file left behind."""
    ws = digits_workspace(tmp_path / "ws", epochs=400)
    catalog = ws / "benchmarks" / f"{LANDMARK}.yaml"
    data = yaml.safe_load(catalog.read_text())
    data["claims"][1]["model_args"] = {"hidden": [6000], "dropout": 0.3}
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    cmd = train(ws, "--no-tracking", "--checkpoint-every-steps", "9")
    out = subprocess.run(cmd, cwd=ws, env=env(ws), capture_output=True, text=True, timeout=300,
                         preexec_fn=_limit_file_size(1024 * 1024))
    assert out.returncode == 4, out.stderr
    assert "Traceback" not in out.stderr and "unexpected pos" not in out.stderr, out.stderr
    assert f"file size limit reached at checkpoints/quick/{LANDMARK} writing {KEY}.pt" \
        in out.stderr, out.stderr
    assert not list((ws / "checkpoints").rglob("*tmp-*"))


def test_prepared_data_changed_after_preparation_is_refused_by_train(tmp_path, digits_workspace, digits_dir):
    """Before, `verify` caught it but `train` trained on it and recorded the manifest's hash."""
    import shutil

    import numpy as np
    import yaml

    ws = digits_workspace(tmp_path / "ws", epochs=3)
    data = tmp_path / "data"
    shutil.copytree(digits_dir, data)
    params = yaml.safe_load((ws / "params.yaml").read_text())
    params["data"]["dir"] = str(data)
    (ws / "params.yaml").write_text(yaml.safe_dump(params))
    labels = data / "prepared" / "digits" / "test_y.npy"
    tampered = np.load(labels)
    tampered[:100] = 0
    np.save(labels, tampered)

    out = subprocess.run(train(ws, "--no-tracking"), cwd=ws, env=env(ws), capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr
    assert "Traceback" not in out.stderr and f"{labels}: does not match" in out.stderr
    assert "landmarks prepare digits" in out.stderr
    assert not (ws / "models" / "quick" / LANDMARK / "metrics.json").exists()


def test_a_run_of_some_seeds_adds_to_the_results_instead_of_replacing_them(tmp_path, digits_workspace):
    """`--seeds 7` after a two-seed run: metrics.json and history.csv still hold both seeds (seed
    7's row the new one), not marked subset. Once the recipe changed, the other seed's row is not
    mixed with the new recipe's: it stays in metrics.previous.json."""
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    catalog = ws / "benchmarks" / f"{LANDMARK}.yaml"
    data = yaml.safe_load(catalog.read_text())
    data["profiles"]["quick"]["seeds"] = [7, 8]
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    out_dir = ws / "models" / "quick" / LANDMARK

    def go(*extra: str) -> dict:
        out = subprocess.run(train(ws, "--no-tracking", *extra), cwd=ws, env=env(ws), capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return read_outputs(out_dir)  # metrics.json with run-info.json's times and ids

    full = go()
    again = go("--seeds", "7")
    assert [r["seed"] for r in again["runs"]] == [7, 8] and again["subset"] is False
    assert again["runs"][1] == full["runs"][1]  # seed 8 kept as it was, its time too
    assert again["runs"][0]["seconds"] != full["runs"][0]["seconds"]  # seed 7: this job's row
    assert {(7, "mlp 64x100"), (8, "mlp 64x100")} <= {
        (int(s), c) for c, s in (line.split(",")[:2] for line in (out_dir / "history.csv").read_text().splitlines()[1:])}

    data["recipe"]["lr"] = 0.04
    catalog.write_text(yaml.safe_dump(data, sort_keys=False))
    changed = go("--seeds", "7")
    assert [r["seed"] for r in changed["runs"]] == [7] and changed["subset"] is True
    previous = json.loads((out_dir / "metrics.previous.json").read_text())
    assert [r["seed"] for r in previous["runs"]] == [7, 8]
