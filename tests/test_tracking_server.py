"""A real `mlflow server` on 127.0.0.1 that goes away mid-run: training goes on, nothing is lost."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from landmarks.catalog import load_catalog
from landmarks.tracking import Tracker
from landmarks.tracking.sync import sync

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(store: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{store / 'server.db'}",
         "--default-artifact-root", str(store / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.25)
    stop_server(proc)
    raise AssertionError("mlflow server did not start")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.server
@pytest.mark.slow
def test_server_stopped_mid_run_then_synced(tmp_path, digits_dir, digits_workspace, train, mlflow_runs, monkeypatch):
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port)
    try:
        ws = digits_workspace(tmp_path / "ws", epochs=8)
        lm = load_catalog(ws / "benchmarks")[LANDMARK]
        tracker = Tracker(uri, project=ws)
        send_history = tracker.log_history

        def log_history(run_id, rows):
            if any(row["epoch"] == 3 for row in rows):
                stop_server(server)  # the server goes away in the middle of the run
            send_history(run_id, rows)

        monkeypatch.setattr(tracker, "log_history", log_history)
        doc = train(lm, "quick", ws / "out", tracker, data_dir=digits_dir)
        assert server.poll() is not None, "the server was stopped during the run"
        assert len(doc["runs"]) == 1 and (ws / "out" / "metrics.json").exists()  # training completed
        assert tracker.pending > 0 and tracker.journal.exists()

        server = start_server(tmp_path, port)  # back, on the same store
        assert sync(tracker.journal) == tracker.pending
        client, parent, child = mlflow_runs(uri, LANDMARK)
        assert child.info.status == "FINISHED" and parent.info.status == "FINISHED"
        history = doc["runs"][0]
        for key in ("test_error", "train_loss", "val_error"):
            points = sorted((m.step, m.value) for m in client.get_metric_history(child.info.run_id, key))
            assert [p[0] for p in points] == list(range(1, 9)), key  # every epoch, none lost
        assert child.data.metrics["top1_error"] == pytest.approx(history["value"])
        assert parent.data.metrics["mlp 64x100/n"] == 1
        assert not tracker.journal.exists()  # renamed to .synced once sent
    finally:
        stop_server(server)
