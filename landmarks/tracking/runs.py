"""The MLflow run lifecycle of one landmark under one profile.

An experiment per landmark (`landmarks/<id>`, its description the landmark's title and
citation), a parent run per (landmark, profile) and a child run per (claim, seed):
- the parent holds the profile's recipes as params and, once every run is done, each claim's
  paper value, mean, std, n, 95% interval, tolerance and p-value as metrics (`<claim>/mean`), its
  verdict as a tag (`verdict/<claim>`), the landmark's table as the run's description, and
  metrics.json and history.csv as artifacts;
- a child holds its resolved recipe as params, per-epoch metrics (the epoch as the step), the
  final metrics, its weights as an artifact, and provenance tags (git commit and versions, with
  MLflow's own `mlflow.source.*` so the UI shows Source and Version).
An interrupted landmark ends KILLED, parent and child (FAILED after an error). The parent's id is
kept in `<state_dir>/parent.json` and each child's in `<state_dir>/mlflow-runs/<run key>.json`,
both written (atomically) as soon as the run exists, before any training: running the same
command again, even after a SIGKILL before the first checkpoint or a failure, or torchrun
restarting its processes, continues the same runs instead of leaving one RUNNING forever and
starting another; the parent is started anew only when the profile's recipes changed. The
child's file also holds the last epoch sent to MLflow, so a resumed run logs each epoch once.
With tracking off (`tracker=None`) every method does nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from landmarks.errors import TrainingError
from landmarks.files import write_atomic
from landmarks.tracking.client import Tracker


class LandmarkRuns:
    def __init__(self, tracker: Tracker | None, landmark_id: str, profile: str, tags: dict[str, Any],
                 state_dir: Path, description: str = "", params: dict[str, Any] | None = None) -> None:
        self.tracker, self.tags = tracker, tags
        self.parent_file = state_dir / "parent.json"
        self.children_dir = state_dir / "mlflow-runs"
        self.logged_through: dict[str, int] = {}  # run key -> the last epoch MLflow has
        self.identities: dict[str, str] = {}  # run key -> digest of what makes the run (recipe, data, code)
        self.experiment = self.parent = None
        if tracker is None:
            return
        self.experiment = tracker.experiment(landmark_id, description)
        # the parent goes on after a kill, a failure or a torchrun restart, as long as the profile's
        # recipes (its params) are the same: one parent per (landmark, profile) holds every child
        self.params_digest = _digest(params or {})
        saved = self._saved_parent()
        if saved.get("uri") == tracker.uri and saved.get("params", self.params_digest) == self.params_digest:
            self.parent = saved["mlflow_run_id"]
            tracker.resume(self.parent)
        else:
            if saved.get("uri") == tracker.uri and "ended" not in saved:  # killed: it must not stay RUNNING
                tracker.end(saved["mlflow_run_id"], "KILLED")
            self.parent = tracker.start(self.experiment, f"{landmark_id} [{profile}]", tags)
            if params:
                tracker.log_params(self.parent, params)
            self._save_parent()

    def _saved_parent(self) -> dict:
        try:
            return json.loads(self.parent_file.read_text()) if self.parent_file.exists() else {}
        except (OSError, ValueError):  # unreadable: a new parent rather than a failed landmark
            return {}

    def _save_parent(self, **fields: str) -> None:
        doc = {"mlflow_run_id": self.parent, "uri": self.tracker.uri, "params": self.params_digest, **fields}
        write_atomic(self.parent_file, json.dumps(doc))

    def _child_file(self, key: str) -> Path:
        return self.children_dir / f"{key}.json"

    def _save_child(self, key: str, run_id: str) -> None:
        doc = {"mlflow_run_id": run_id, "uri": self.tracker.uri, "identity": self.identities[key],
               "logged_through": self.logged_through.get(key, 0)}
        write_atomic(self._child_file(key), json.dumps(doc))

    def start_child(self, name: str, key: str, identity: dict[str, Any], tags: dict[str, Any],
                    params: dict[str, Any], fresh: bool = False) -> str | None:
        """The child run's id: the one an earlier, interrupted process of this same run (same
        `identity`: recipe, data, code) started, resumed; or a new run with its params. With
        `fresh` (a restart), or for a run of other settings, the earlier run is ended KILLED."""
        if self.tracker is None:
            return None
        self.identities[key] = _digest(identity)
        path = self._child_file(key)
        try:
            saved = json.loads(path.read_text()) if path.exists() else {}
        except (OSError, ValueError):  # unreadable: start anew rather than fail the landmark
            saved = {}
        if saved.get("uri") != self.tracker.uri:
            saved = {}
        if saved and not fresh and saved.get("identity") == self.identities[key]:
            run_id = saved["mlflow_run_id"]
            self.logged_through[key] = int(saved.get("logged_through", 0))
            self.tracker.resume(run_id)
            return run_id
        if saved:  # superseded by a restart: it must not stay RUNNING
            self.tracker.end(saved["mlflow_run_id"], "KILLED")
        run_id = self.tracker.start(self.experiment, name, {**self.tags, **tags}, parent=self.parent)
        self.logged_through[key] = 0
        self._save_child(key, run_id)  # before the params, before training: a kill from here on resumes it
        self.tracker.log_params(run_id, params)
        if tags.get("data_hash") and tags.get("dataset"):
            self.tracker.log_input(run_id, str(tags["dataset"]), str(tags["data_hash"]),
                                   f"data/prepared/{tags['dataset']}")
        return run_id

    def log_epoch(self, key: str, run_id: str | None, row: dict) -> None:
        """Send an epoch's metrics unless MLflow already has them (a resumed run re-trains the epochs
        after its checkpoint, some of which the killed process had logged)."""
        if not (self.tracker and run_id) or row["epoch"] <= self.logged_through.get(key, 0):
            return
        self.tracker.log_history(run_id, [row])
        self.logged_through[key] = row["epoch"]
        self._save_child(key, run_id)

    def finish_child(self, key: str, run_id: str | None, metrics: dict[str, float], history: list[dict],
                     seconds: float, tags: dict[str, Any], weights: Path | None = None) -> None:
        """Final metrics (step 0), the epochs not yet logged, tags, the weights; the run ends FINISHED."""
        if not (self.tracker and run_id):
            return
        done = self.logged_through.get(key, 0)
        self.tracker.log_history(run_id, [h for h in history if h["epoch"] > done])
        if weights is not None and weights.exists():
            self.tracker.log_artifact(run_id, weights, "weights")
        self.tracker.log_metrics(run_id, [(k, v, 0) for k, v in metrics.items()] + [("seconds", seconds, 0)])
        for name, value in tags.items():
            self.tracker.set_tag(run_id, name, value)
        self.tracker.end(run_id)
        self._child_file(key).unlink(missing_ok=True)

    def forget_child(self, key: str) -> None:
        """A run that will not be resumed (it failed; its checkpoint is gone): the next one is new."""
        if self.tracker is not None:
            self._child_file(key).unlink(missing_ok=True)

    def fail_child(self, run_id: str | None, status: str, error: BaseException | None = None) -> None:
        """End a child run FAILED (with what failed, and the step, for a TrainingError) or KILLED."""
        if not (self.tracker and run_id):
            return
        if isinstance(error, TrainingError):
            self.tracker.set_tag(run_id, "failure", str(error))
            if error.step is not None:
                self.tracker.set_tag(run_id, "failed_at_step", error.step)
        self.tracker.end(run_id, status)

    def close(self, status: str, summary: list[dict] = (), note: str = "", artifacts: tuple[Path, ...] = ()) -> None:
        """The parent ends with the landmark: FINISHED with its claims' figures and verdicts, or
        FAILED / KILLED (an interrupted parent is resumed by the next run of the command)."""
        if self.tracker is None:
            return
        if status == "FINISHED":
            self.tracker.log_metrics(self.parent, claim_metrics(summary))
            for r in summary:
                self.tracker.set_tag(self.parent, f"verdict/{key_name(r['claim'])}", r["verdict"])
            if note:
                self.tracker.set_tag(self.parent, "mlflow.note.content", note)
            for path in artifacts:
                self.tracker.log_artifact(self.parent, path)
        self.tracker.end(self.parent, status)
        if status == "FINISHED":
            self.parent_file.unlink(missing_ok=True)
        else:  # kept: the same command (or torchrun's restart) continues this parent
            try:
                self._save_parent(ended=status)
            except OSError:  # a full disk, say: the file as it was still names the parent
                pass
        self.tracker.close()


# MLflow refuses keys over 250 characters; an ordering's row is named by all its claims
# ("ordering of test_error: A > B > C"), so room is left for "verdict/" and "/ci95_high"
KEY_NAME_MAX = 214


def key_name(claim: str) -> str:
    """A claim's or an ordering's name as the part of an MLflow key it is in: as it is, or, when too
    long, cut with a digest of the whole after it, so that two long names stay apart."""
    if len(claim) <= KEY_NAME_MAX:
        return claim
    return f"{claim[:KEY_NAME_MAX - 10]}~{hashlib.sha256(claim.encode()).hexdigest()[:9]}"


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def claim_metrics(summary: list[dict]) -> list[tuple[str, float, int]]:
    """Each claim's (and ordering's) figures as MLflow metrics with readable keys: `<claim>/mean`."""
    out = []
    for r in summary:
        for key in ("paper", "mean", "std", "n", "ci95_low", "ci95_high", "tolerance", "p_value"):
            value = r.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                out.append((f"{key_name(r['claim'])}/{key}", float(value), 0))
    return out
