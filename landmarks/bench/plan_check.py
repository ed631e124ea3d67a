"""How close `landmarks plan` comes: its estimate beside a measured run of the same work, on the same
machine in the same minute, through the engine's own loop (`fit`, evaluation after each epoch
included).

    landmarks bench plan

Three cases: one epoch of a 784-300-10 MLP on MNIST (batch 64), 200 steps of LeNet-5 on MNIST
(batch 64) and 30 steps of ResNet-20 on CIFAR-10 (batch 128, crop and flip), each on the prepared
dataset when there is one and on synthetic images of its shape otherwise. The estimate is the
plan's: its few timed steps times the run's steps, plus the evaluation; the aim is within 30%.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from landmarks.bench.timing import sync
from landmarks.catalog import Claim
from landmarks.data.loaders import to_device
from landmarks.data.prepare import load_prepared
from landmarks.data.registry import DATASETS, Splits, arrays_hash
from landmarks.errors import ConfigError, DataError
from landmarks.models import create_model
from landmarks.plan.estimate import run_steps
from landmarks.plan.timing import time_step
from landmarks.train.loop import fit
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

# name -> (dataset, model, model args, recipe fields)
CASES = {
    "mlp-epoch": ("mnist", "mlp", {"hidden": [300]}, {"batch_size": 64, "epochs": 1}),
    "lenet5-steps": ("mnist", "lenet5", {}, {"batch_size": 64, "epochs": 1, "max_steps": 200}),
    "resnet20-steps": ("cifar-10", "resnet20", {}, {"batch_size": 128, "epochs": 1, "max_steps": 30,
                                                         "augment": ("crop", "flip"), "normalize": "standard",
                                                         "momentum": 0.9, "weight_decay": 1e-4}),
}


def _data(dataset: str, data_dir: Path) -> tuple[Splits, str]:
    try:
        return load_prepared(dataset, data_dir), "prepared"
    except DataError:
        spec = DATASETS.get(dataset)
        c, h, w = spec.shape
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (spec.train_images, h, w, c)).astype(np.uint8)
        y = rng.integers(0, spec.num_classes, spec.train_images).astype(np.int64)
        t = x[: spec.test_images]
        return Splits(dataset, x, y, t, y[: spec.test_images], spec.num_classes, 255, arrays_hash(x[:1])), "synthetic"


def measure(label: str, device: torch.device, data_dir: Path) -> dict:
    if label not in CASES:
        raise ConfigError(f"bench plan: no case {label!r}; choose from {', '.join(CASES)}")
    dataset, model_name, args, fields = CASES[label]
    recipe = Recipe(lr=0.05, val_fraction=0.0, **fields)
    claim = Claim(name=label, model=model_name, model_args=args, paper=0.0)
    splits, kind = _data(dataset, data_dir)
    steps, evaluated, _ = run_steps(recipe, len(splits.train_y))
    t = time_step(claim, recipe, DATASETS.get(dataset).shape, splits.num_classes, device)
    evaluated += len(splits.test_y)  # the test set after the epoch
    estimate = (steps * t.ms_per_step + evaluated * t.ms_per_eval_image + t.ms_per_epoch_extra) / 1000.0
    data = to_device(splits, 0.0, recipe.normalize, device)
    model = create_model(model_name, data.in_shape, data.num_classes, **args).to(device)
    trainer = Trainer.on_device(model, data, recipe, seed_everything(0))
    sync(device)
    t0 = time.perf_counter()
    fit(trainer)
    sync(device)
    measured = time.perf_counter() - t0
    what = f"{model_name} {args.get('hidden', '')}".strip() + (f", {recipe.max_steps} steps" if recipe.max_steps else ", one epoch")
    return {"case": label, "what": f"{what} on {dataset}, batch {recipe.batch_size}", "data": kind, "steps": steps, "plan s": round(estimate, 2), "measured s": round(measured, 2),
            "measured / plan": round(measured / estimate, 2)}


def table(names: list[str] | None, device: torch.device, data_dir: Path) -> tuple["pd.DataFrame", str]:  # noqa: F821
    """The bench's table (the cases of `names`, all by default) and its notes."""
    import pandas as pd

    rows = [measure(n, device, data_dir) for n in (names or list(CASES))]
    return pd.DataFrame(rows), __doc__.split("\n\n", 2)[2].replace("\n", " ").strip()
