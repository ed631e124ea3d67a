"""Fixtures the test modules share (no test module imports another)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Under pytest-xdist (`make test` runs one worker per core) each worker is a process with its own
# thread pools: the cores are split between the workers, not oversubscribed. Set before torch loads;
# the subprocesses a test starts inherit it, unless the test names its own count.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT") and "OMP_NUM_THREADS" not in os.environ:
    workers = int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // workers))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = ROOT.parent / "shared" / "datasets"
DIGITS_LANDMARK = "digits-linear-mlp-cnn"

os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture
def root() -> Path:
    return ROOT


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


@pytest.fixture(scope="session")
def digits_dir(tmp_path_factory) -> Path:
    """A data folder with scikit-learn's digits prepared, once per session."""
    from landmarks.data.prepare import ensure_prepared

    d = tmp_path_factory.mktemp("data")
    ensure_prepared("digits", d)
    return d


@pytest.fixture
def digits(digits_dir):
    """digits(val_fraction, normalize): the prepared digits as device-resident CPU tensors."""
    from landmarks.data.loaders import to_device
    from landmarks.data.prepare import load_prepared

    def make(val_fraction: float = 0.1, normalize: str = "standard"):
        return to_device(load_prepared("digits", digits_dir), val_fraction, normalize, torch.device("cpu"))

    return make


@pytest.fixture
def train(tmp_path):
    """train(landmark, profile, out_dir, tracker=None, **job fields): the real runner, with its
    checkpoints in the test's folder."""
    from landmarks.config import CheckpointPolicy
    from landmarks.report.tables import parent_verdicts
    from landmarks.runner import TrainJob, train_landmark

    def run(lm, profile: str, out_dir: Path, tracker=None, **fields):
        fields.setdefault("checkpoints", CheckpointPolicy(dir=tmp_path / "checkpoints"))
        fields.setdefault("data_dir", tmp_path / "data")
        return train_landmark(TrainJob(landmark=lm, profile=profile, out_dir=out_dir, **fields), tracker,
                              parent_verdicts)

    return run


@pytest.fixture
def digits_workspace(digits_dir, catalog_dir):
    """workspace(folder, lr, epochs): a project folder running one claim of the digits landmark
    (an MLP with dropout, so RNG state matters) with one seed, deterministic, on the prepared digits."""

    def make(ws: Path, lr: float = 0.05, epochs: int = 150) -> Path:
        (ws / "benchmarks").mkdir(parents=True, exist_ok=True)
        data = yaml.safe_load((catalog_dir / f"{DIGITS_LANDMARK}.yaml").read_text())
        data["recipe"]["lr"] = lr
        data["claims"][1]["model_args"] = {"hidden": [100], "dropout": 0.3}
        data["profiles"]["quick"] = {"seeds": [7], "claims": ["mlp 64x100"], "recipe": {"epochs": epochs}}
        (ws / "benchmarks" / f"{DIGITS_LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        (ws / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(digits_dir)},
                                                        "train": {"deterministic": True}}))
        return ws

    return make


@pytest.fixture
def mlflow_runs():
    """runs(uri, landmark) -> (client, parent run, the single child run) of a landmark's experiment."""
    from mlflow.tracking import MlflowClient

    def read(uri: str, landmark: str):
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name(f"landmarks/{landmark}")
        runs = client.search_runs([exp.experiment_id])
        child = next(r for r in runs if "mlflow.parentRunId" in r.data.tags)
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        return client, parent, child

    return read


@pytest.fixture
def cifar_like():
    """cifar_like(n, seed): generated 32x32 colour Splits with something learnable (a bright row per class)."""
    from landmarks.data.registry import Splits, arrays_hash

    def make(n: int = 640, seed: int = 0) -> Splits:
        rng = np.random.default_rng(seed)
        x = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
        y = rng.integers(0, 10, n).astype(np.int64)
        x[np.arange(n), y, :, 0] = 255
        return Splits("gen", x, y, x[:128], y[:128], 10, 255, arrays_hash(x, y))

    return make


@pytest.fixture
def smooth_recipe():
    """A modest-rate recipe with augmentation and a schedule, for comparing two code paths: float
    rounding then stays rounding instead of being amplified."""
    from landmarks.train.recipe import Recipe, Schedule

    return Recipe(lr=0.02, momentum=0.9, weight_decay=1e-4, batch_size=16, epochs=1, drop_last=True,
                  augment=("crop", "flip"), normalize="standard", val_fraction=0.0,
                  schedule=Schedule(kind="multistep", unit="step", milestones=(150,), warmup_steps=20,
                                    warmup_factor=0.1))
