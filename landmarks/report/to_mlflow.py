"""The report's figure and table of each landmark, attached to the landmark's MLflow parent run
(the run `metrics.json` names), so the UI holds what the report shows. The parent is closed by
training before the report exists; artifacts can be added to a finished run."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def attach(tracker, docs: list[dict], out_dir: Path) -> int:
    """Log `figures/<landmark>.png` and `tables/<landmark>.md` to each parent run; how many were.
    A parent MLflow does not have (another tracking store, a deleted run) is skipped."""
    from mlflow.exceptions import MlflowException

    attached = 0
    for doc in docs:
        run_id = doc.get("mlflow_parent_run_id")
        if not run_id:
            continue
        try:
            tracker.client.get_run(run_id)
        except MlflowException:
            continue
        for path in (out_dir / "figures" / f"{doc['landmark']}.png", out_dir / "tables" / f"{doc['landmark']}.md"):
            if path.exists():
                tracker.log_artifact(run_id, path, "report")
        attached += 1
    return attached
