"""Batches sliced from a dataset held whole on the device (`DeviceData`).

The epoch's order is a permutation drawn from the run's data-order generator, whose state at the
epoch's start goes into the checkpoint, so a run resumed mid-epoch sees the same order.
"""

from __future__ import annotations

import functools
from typing import Iterator

import torch
from torch import nn

from landmarks.data.loaders import DeviceData
from landmarks.metrics import error_percent, topk_correct
from landmarks.train.distributed import SINGLE, World
from landmarks.train.recipe import Recipe
from landmarks.train.sources.augment import augment, batch_layout
from landmarks.train.state import Batch, TrainState

EVAL_BATCH = 2048


class DeviceBatches:
    def __init__(self, data: DeviceData, recipe: Recipe, generator: torch.Generator, world: World = SINGLE) -> None:
        self.data, self.recipe, self.generator, self.world = data, recipe, generator, world
        self.n = len(data.y_train)
        self.device = data.y_train.device
        self.has_val = len(data.y_val) > 0
        self.steps_per_epoch = world.batches(self.n, recipe.batch_size, recipe.drop_last)

    def epoch(self, state: TrainState) -> Iterator[Batch]:
        if state.batch == 0:
            state.epoch_order_state = self.generator.get_state()
        else:
            self.generator.set_state(state.epoch_order_state)  # the same order as before the stop
        order = torch.randperm(self.n, generator=self.generator).to(self.device)
        bs = self.recipe.batch_size
        for b in range(state.batch, self.steps_per_epoch):
            yield self.batch(order[b * bs:(b + 1) * bs], b)

    def batch(self, idx: torch.Tensor, b: int) -> Batch:
        """Batch `b` of an epoch, made of the training examples `idx` (all ranks' together)."""
        return Batch(b, len(idx), idx, functools.partial(self._load, idx))

    def _load(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        share = self.world.shard(idx)  # all of idx in one process
        xb, yb = self.data.x_train[share], self.data.y_train[share]
        if self.recipe.augment:
            xb = augment(xb, self.recipe)
        return batch_layout(xb, self.recipe.channels_last), yb

    def sample(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """k training examples drawn with torch's global generator (which checkpoints keep), not
        augmented: what SDLM estimates its curvature on before each pass."""
        idx = torch.randperm(self.n)[:k].to(self.device)
        return batch_layout(self.data.x_train[idx], self.recipe.channels_last), self.data.y_train[idx]

    def evaluate(self, model: nn.Module, split: str, ks: tuple[int, ...] = (1, 5), bf16: bool = False) -> dict:
        """Top-k error over the "val" or "test" split, in fp32 (`bf16` is the loader source's)."""
        x, y = (self.data.x_val, self.data.y_val) if split == "val" else (self.data.x_test, self.data.y_test)
        return evaluate(model, x, y, ks, self.world)

    def final_test(self, model: nn.Module, last_row: dict | None, bf16: bool = False) -> dict:
        """The claim's test pass: the last epoch's when it measured this very model."""
        if last_row is not None:
            return {"top1_error": last_row["test_error"], "top5_error": last_row["test_top5_error"]}
        return self.evaluate(model, "test")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ks: tuple[int, ...] = (1, 5),
             world: World = SINGLE) -> dict:
    """Top-k error in percent over a whole split, batched on the device. Over several ranks each
    takes a contiguous share and the counts are summed: every image counted exactly once, with
    no padding duplicates (DistributedSampler's) when the split does not divide evenly."""
    model.eval()
    first, end = world.span(len(y))  # the whole split in one process
    correct = {k: 0 for k in ks}
    for start in range(first, end, EVAL_BATCH):
        stop = min(start + EVAL_BATCH, end)
        got = topk_correct(model(x[start:stop]), y[start:stop], ks)
        for k in ks:
            correct[k] += got[k]
    if world.active:
        counts = torch.tensor([correct[k] for k in ks], dtype=torch.long, device=y.device)
        world.sum_(counts)
        correct = dict(zip(ks, counts.tolist()))
    return error_percent(correct, len(y))
