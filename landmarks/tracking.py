"""MLflow tracking: an experiment per landmark, a parent run per (landmark, profile) with the
aggregate, and a child run per (claim, seed) with the resolved recipe, per-epoch metrics and
provenance tags.

The store is `sqlite:///mlflow.db` in the project unless MLFLOW_TRACKING_URI (or params.yaml's
tracking.uri) names another, such as a team's `mlflow server`. mlflow is imported here only, so
the engine and `landmarks bench` run where it is not installed.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Iterable

EXPERIMENT_PREFIX = "landmarks/"
BATCH = 900  # MLflow takes at most 1000 metrics per log_batch call


def resolve_uri(configured: str = "", project: Path | str = ".") -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI") or configured
    if uri:
        return uri
    return f"sqlite:///{(Path(project).resolve() / 'mlflow.db').as_posix()}"


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """{'recipe': {'lr': 0.1}} -> {'recipe.lr': 0.1}."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: data}


def _clean_key(key: str) -> str:
    # MLflow keys allow letters, digits, _ - . space / : only
    return "".join(ch if ch.isalnum() or ch in "_-. /:" else "_" for ch in key)


class Tracker:
    def __init__(self, uri: str, project: Path | str = ".") -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.project = Path(project).resolve()
        self.client = MlflowClient(tracking_uri=uri)

    def experiment(self, landmark_id: str) -> str:
        name = EXPERIMENT_PREFIX + landmark_id
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        location = None
        if self.uri.startswith("sqlite:") or self.uri.startswith("file:"):
            # keep local artifacts beside the local store, not in the current directory
            location = (self.project / "mlartifacts" / landmark_id).as_uri()
        return self.client.create_experiment(name, artifact_location=location)

    def start(self, experiment_id: str, name: str, tags: dict[str, str], parent: str | None = None) -> str:
        tags = {k: str(v) for k, v in tags.items()}
        if parent:
            tags["mlflow.parentRunId"] = parent
        run = self.client.create_run(experiment_id, run_name=name, tags=tags)
        return run.info.run_id

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(_clean_key(k), str(v)[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per call
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, rows: Iterable[tuple[str, float, int]]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(_clean_key(k), float(v), now, int(step))
            for k, v, step in rows
            if v is not None and not (isinstance(v, float) and math.isnan(v))
        ]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(run_id, metrics=items[i : i + BATCH])

    def log_history(self, run_id: str, history: list[dict]) -> None:
        """Per-epoch metrics, with the epoch as the MLflow step."""
        self.log_metrics(
            run_id,
            ((k, v, row["epoch"]) for row in history for k, v in row.items() if k != "epoch"),
        )

    def log_artifact(self, run_id: str, path: Path) -> None:
        self.client.log_artifact(run_id, str(path))

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)


def open_tracker(enabled: bool, configured_uri: str = "", project: Path | str = ".") -> Tracker | None:
    if not enabled:
        return None
    return Tracker(resolve_uri(configured_uri, project), project)
