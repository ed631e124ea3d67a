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
