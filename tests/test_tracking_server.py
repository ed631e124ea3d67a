"""A real `mlflow server` on 127.0.0.1 that goes away mid-run: training goes on, nothing is lost."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from landmarks.catalog import load_catalog
from landmarks.tracking import Tracker
from landmarks.tracking.sync import sync
from mlflowserver import free_port, start_server, stop_server

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


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


@pytest.mark.server
@pytest.mark.slow
def test_sync_while_the_server_is_down_fails_fast_and_keeps_the_journal(tmp_path, digits_workspace, mlflow_runs):
    """Before, `landmarks sync` waited about 250 s on MLflow's retries, then raised a traceback."""
    import os
    import subprocess

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    ws = digits_workspace(tmp_path / "ws", epochs=3)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        env.pop(name, None)
    trained = subprocess.run([str(BIN / "landmarks"), "train", LANDMARK], cwd=ws, env=env, capture_output=True,
                             text=True, timeout=300)  # no server at all: training journals and completes
    assert trained.returncode == 0, trained.stderr
    (journal,) = (ws / "tracking-pending").glob("*.jsonl")
    before = journal.read_text()

    # the server is still down: one message, exit 4, well inside the timeout (not MLflow's minutes of retries)
    down = subprocess.run([str(BIN / "landmarks"), "sync"], cwd=ws, env=env, capture_output=True, text=True, timeout=90)
    assert down.returncode == 4, down.stderr
    assert "Traceback" not in down.stderr and f"MLflow at {uri}" in down.stderr and "Nothing is lost" in down.stderr
    assert journal.read_text() == before

    server = start_server(tmp_path, port)
    try:
        up = subprocess.run([str(BIN / "landmarks"), "sync"], cwd=ws, env=env, capture_output=True, text=True,
                            timeout=300)
        assert up.returncode == 0, up.stderr
        _, parent, child = mlflow_runs(uri, LANDMARK)
        assert parent.info.status == "FINISHED" and child.info.status == "FINISHED"
        assert not journal.exists()
    finally:
        stop_server(server)
