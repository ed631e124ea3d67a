from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A copy of the real catalog that a test may edit."""
    dst = tmp_path / "benchmarks"
    shutil.copytree(ROOT / "benchmarks", dst)
    return dst


@pytest.fixture
def shared_datasets() -> Path:
    """The offline dataset mirror beside the project; required in CI, skipped elsewhere."""
    if not SHARED_DATASETS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATASETS} is missing: CI must provide ../shared/datasets")
        pytest.skip(f"{SHARED_DATASETS} not present")
    return SHARED_DATASETS


def parent_and_child(uri: str, landmark: str):
    """The parent run and the (single) child run of a landmark's MLflow experiment."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(f"landmarks/{landmark}")
    runs = client.search_runs([exp.experiment_id])
    child = next(r for r in runs if "mlflow.parentRunId" in r.data.tags)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    return client, parent, child
