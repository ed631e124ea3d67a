"""The MLflow run lifecycle of one landmark under one profile.

An experiment per landmark (`landmarks/<id>`), a parent run per (landmark, profile) with the
aggregate over seeds, and a child run per (claim, seed) with the resolved recipe as params,
per-epoch metrics and provenance tags. An interrupted landmark keeps its parent's id in
`<state_dir>/parent.json` and each interrupted child's id in its checkpoint, so running the same
command again continues the same runs instead of starting new ones. With tracking off
(`tracker=None`) every method does nothing.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from landmarks.errors import TrainingError
from landmarks.files import write_atomic
from landmarks.tracking.client import Tracker


class LandmarkRuns:
    def __init__(self, tracker: Tracker | None, landmark_id: str, profile: str, tags: dict[str, Any],
                 state_dir: Path) -> None:
        self.tracker, self.tags = tracker, tags
        self.parent_file = state_dir / "parent.json"
        self.experiment = self.parent = None
        if tracker is None:
            return
        self.experiment = tracker.experiment(landmark_id)
        saved = json.loads(self.parent_file.read_text()) if self.parent_file.exists() else {}
        if saved.get("uri") == tracker.uri:  # an interrupted landmark: its parent run goes on
            self.parent = saved["mlflow_run_id"]
            tracker.resume(self.parent)
        else:
            self.parent = tracker.start(self.experiment, f"{landmark_id} [{profile}]", tags)
            write_atomic(self.parent_file, json.dumps({"mlflow_run_id": self.parent, "uri": tracker.uri}))

    def start_child(self, name: str, saved_id: str | None, tags: dict[str, Any], params: dict[str, Any]) -> str | None:
        """The child run's id: the one a checkpoint saved (resumed), or a new run with its params."""
        if self.tracker is None:
            return None
        if saved_id:
            self.tracker.resume(saved_id)
            return saved_id
        run_id = self.tracker.start(self.experiment, name, {**self.tags, **tags}, parent=self.parent)
        self.tracker.log_params(run_id, params)
        return run_id

    def log_epoch(self, run_id: str | None, row: dict) -> None:
        if self.tracker and run_id:
            self.tracker.log_history(run_id, [row])

    def finish_child(self, run_id: str | None, metrics: dict[str, float], unlogged: list[dict], seconds: float,
                     tags: dict[str, Any]) -> None:
        """Final metrics (step 0), the epochs not yet logged live, tags; the run ends FINISHED."""
        if not (self.tracker and run_id):
            return
        self.tracker.log_history(run_id, unlogged)
        self.tracker.log_metrics(run_id, [(k, v, 0) for k, v in metrics.items()] + [("seconds", seconds, 0)])
        for key, value in tags.items():
            self.tracker.set_tag(run_id, key, value)
        self.tracker.end(run_id)

    def fail_child(self, run_id: str | None, status: str, error: BaseException | None = None) -> None:
        """End a child run FAILED (with what failed, and the step, for a TrainingError) or KILLED."""
        if not (self.tracker and run_id):
            return
        if isinstance(error, TrainingError):
            self.tracker.set_tag(run_id, "failure", str(error))
            if error.step is not None:
                self.tracker.set_tag(run_id, "failed_at_step", error.step)
        self.tracker.end(run_id, status)

    def close(self, status: str, rows: list[dict]) -> None:
        """A finished landmark logs its aggregate; a killed one's parent stays open to be resumed."""
        if self.tracker is None:
            return
        if status == "FINISHED":
            self.tracker.log_metrics(self.parent, aggregate(rows))
        if status != "KILLED":
            self.tracker.end(self.parent, status)
            self.parent_file.unlink(missing_ok=True)
        self.tracker.close()


def aggregate(rows: list[dict]) -> list[tuple[str, float, int]]:
    """mean, std and n of each claim's values, as (key, value, step) metrics."""
    by_claim: dict[str, list[float]] = {}
    for r in rows:
        by_claim.setdefault(r["claim"], []).append(float(r["value"]))
    out = []
    for claim, values in by_claim.items():
        out.append((f"{claim}.mean", statistics.fmean(values), 0))
        out.append((f"{claim}.std", statistics.stdev(values) if len(values) > 1 else 0.0, 0))
        out.append((f"{claim}.n", float(len(values)), 0))
    return out
