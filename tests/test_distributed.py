"""Several processes on one run (torchrun, gloo on the CPU): the same steps as one process, every
test image counted once, and a clear refusal for what does not split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
import yaml

from landmarks.train.engine import evaluate
from ranks import evaluate_on_rank, fixed_problem

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


def workspace(ws: Path, catalog_dir: Path, digits_dir: Path, recipe: dict, claims: str = "data") -> Path:
    """The digits landmark with an MLP and a small CNN with BatchNorm, batch 31 (so shares of 16 and
    15 images, and a last batch of 3 split 2 and 1), one seed, deterministic."""
    (ws / "benchmarks").mkdir(parents=True)
    data = yaml.safe_load((catalog_dir / f"{LANDMARK}.yaml").read_text())
    data["claims"] = [data["claims"][1], {"name": "small cnn bn", "model": "cnn_small",
                                          "model_args": {"batchnorm": True}, "source": "test"}]
    data["orderings"] = []
    data["recipe"].update(batch_size=31, **({"parallel": "data", "sync_bn": True} if claims == "data" else {}), **recipe)
    data["profiles"] = {"quick": {"seeds": [0]}}
    (ws / "benchmarks" / f"{LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (ws / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(digits_dir)}, "train": {"deterministic": True}}))
    return ws


def train(ws: Path, models: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([str(BIN / "landmarks"), "train", LANDMARK, "--no-tracking", "--models", models, *extra],
                          cwd=ws, env=env, capture_output=True, text=True, timeout=600)


def weights(ws: Path, models: str, key: str) -> dict:
    return torch.load(ws / models / "quick" / LANDMARK / "weights" / f"{key}.pt", weights_only=True)


@pytest.mark.slow
def test_two_processes_take_the_steps_of_one(tmp_path, catalog_dir, digits_dir):
    """Same seed, same global batch: after one step the weights agree to float rounding (the two
    sum the batch in a different order: measured 3e-8 at most), BatchNorm over the global batch
    included. Over epochs those rounding differences grow with training (1.6e-6 of the largest
    weight after 40 steps, more at lr 0.05 and momentum 0.9), so the curves are compared where
    they must agree to 1e-5: all epochs of the MLP, the first epoch of the BatchNorm CNN."""
    one_step = workspace(tmp_path / "step", catalog_dir, digits_dir, {"epochs": 1, "max_steps": 1})
    for models, extra in (("one", ()), ("two", ("--nproc-per-node", "2"))):
        out = train(one_step, models, *extra)
        assert out.returncode == 0, out.stderr
    for key in ("mlp_64x100-seed0", "small_cnn_bn-seed0"):
        a, b = weights(one_step, "one", key), weights(one_step, "two", key)
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(b[name], a[name], rtol=0, atol=1e-6, msg=f"{key} {name}")

    ws = workspace(tmp_path / "epochs", catalog_dir, digits_dir, {"epochs": 3})
    assert train(ws, "one").returncode == 0
    two = train(ws, "two", "--nproc-per-node", "2")
    assert two.returncode == 0, two.stderr
    assert two.stderr.count("top1_error =") == 2  # rank 0 alone reports
    h1 = pd.read_csv(ws / "one" / "quick" / LANDMARK / "history.csv")
    h2 = pd.read_csv(ws / "two" / "quick" / LANDMARK / "history.csv")
    mlp1, mlp2 = h1[h1.claim == "mlp 64x100"], h2[h2.claim == "mlp 64x100"]
    for col in ("train_loss", "train_error", "val_error", "test_error"):
        assert mlp2[col].tolist() == pytest.approx(mlp1[col].tolist(), rel=1e-5), col
    cnn1, cnn2 = h1[(h1.claim == "small cnn bn") & (h1.epoch == 1)], h2[(h2.claim == "small cnn bn") & (h2.epoch == 1)]
    for col in ("train_loss", "train_error", "val_error"):
        assert cnn2[col].tolist() == pytest.approx(cnn1[col].tolist(), rel=1e-5), col
    doc = json.loads((ws / "two" / "quick" / LANDMARK / "metrics.json").read_text())
    assert {r["info.world_size"] for r in doc["runs"]} == {2}
    assert not (ws / "checkpoints").exists() or not any((ws / "checkpoints").rglob("*.pt"))


def test_evaluation_over_two_ranks_counts_every_image_once(tmp_path):
    """1,001 test images over 2 ranks (501 and 500): exactly the one-process top-1 and top-5 errors,
    with no image padded in twice as DistributedSampler would."""
    model, x, y = fixed_problem()
    single = evaluate(model, x, y, ks=(1, 5))
    assert 0 < single["top1_error"] < 100
    mp.start_processes(evaluate_on_rank, args=(2, str(tmp_path / "rendezvous"), str(tmp_path)), nprocs=2,
                       start_method="spawn")
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == single


def test_a_claim_that_does_not_split_is_refused_under_several_processes(tmp_path, catalog_dir, digits_dir):
    ws = workspace(tmp_path / "ws", catalog_dir, digits_dir, {"epochs": 1}, claims="runs")
    out = train(ws, "m", "--nproc-per-node", "2")
    assert out.returncode == 2, out.stderr
    assert "2 processes train a run together only with `parallel: data`" in out.stderr and "Traceback" not in out.stderr
    assert not (ws / "m" / "quick" / LANDMARK / "metrics.json").exists()
