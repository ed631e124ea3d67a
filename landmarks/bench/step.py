"""Milliseconds per training step: the eager fp32 path against the fast path, same model and batch.

    landmarks bench step --models lenet5,resnet20

Eager fp32 is the reference engine (float32 batches sliced from the device-resident dataset,
torch.optim.SGD). The fast path indexes uint8 images, normalises and augments inside the step,
runs bf16 autocast in channels_last and replays the whole step as a CUDA graph. Both use the
same data, augmentation (ResNets: 4-pixel pad, random crop, flip) and optimizer settings. On a
CPU the fast path runs the same step eagerly in fp32, so the ratio there is about 1: the figures
that matter come from a GPU.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits, arrays_hash
from landmarks.models import create_model
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

log = logging.getLogger(__name__)

# name -> (model, image shape (H, W, C), batch, augmentation)
MODELS = {
    "lenet5": ("lenet5", (28, 28, 1), 64, ()),
    "resnet20": ("resnet20", (32, 32, 3), 128, ("crop", "flip")),
    "resnet56": ("resnet56", (32, 32, 3), 128, ("crop", "flip")),
    "resnet110": ("resnet110", (32, 32, 3), 128, ("crop", "flip")),
}
NOTES = ("Synthetic uint8 images resident on the device, SGD momentum 0.9, weight decay 5e-4; "
         "timed after warm-up (the fast path's warm-up includes its CUDA-graph capture), "
         "synchronised, wall clock over the timed steps.")


def _splits(shape: tuple[int, int, int], n: int) -> Splits:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *shape)).astype(np.uint8)
    y = rng.integers(0, 10, n).astype(np.int64)
    return Splits("synthetic", x, y, x[:64], y[:64], 10, 255, arrays_hash(x[:1]))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def ms_per_step(key: str, fast: bool, device: torch.device, steps: int, warmup: int) -> float:
    name, shape, batch, aug = MODELS[key]
    n = batch * 16
    data = to_device(_splits(shape, n), 0.0, "standard", device, float_train=not fast)
    gen = seed_everything(0)
    model = create_model(name, data.in_shape, 10).to(device)
    recipe = Recipe(lr=0.05, momentum=0.9, weight_decay=5e-4, batch_size=batch, drop_last=True, augment=aug,
                    fast=fast, val_fraction=0.0)
    trainer = Trainer(model, data, recipe, gen, fast=fast)
    model.train()
    per_epoch = trainer.steps_per_epoch
    order = torch.randperm(n, generator=gen).to(device)
    losses, wrong = trainer.buffers()

    def step(i: int) -> None:
        b = i % per_epoch
        trainer.step(order[b * batch : (b + 1) * batch], b, i, losses, wrong)

    for i in range(warmup):
        step(i)
    _sync(device)
    t0 = time.perf_counter()
    for i in range(steps):
        step(i)
    _sync(device)
    return 1000.0 * (time.perf_counter() - t0) / steps


def run(names: list[str], device: torch.device, steps: int, warmup: int) -> list[dict]:
    rows = []
    for key in names:
        _, _, batch, aug = MODELS[key]
        eager = ms_per_step(key, False, device, steps, warmup)
        fast = ms_per_step(key, True, device, steps, warmup)
        fast_kind = "CUDA graph + bf16 + channels_last" if device.type == "cuda" else "same step, eager fp32 (CPU)"
        rows.append({"model": key, "batch": batch, "augmentation": "+".join(aug) or "none",
                     "eager fp32 ms/step": round(eager, 3), "fast ms/step": round(fast, 3),
                     "speed-up": round(eager / fast, 2), "fast path": fast_kind})
        log.info("  %s: eager %.2f ms, fast %.2f ms -> %.1fx", key, eager, fast, eager / fast)
    return rows
