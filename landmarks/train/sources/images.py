"""Batches of images decoded per batch by a DataLoader (ImageNet): the source for data that does
not fit on the device.

A checkpoint holds the position inside the epoch; the resumed epoch goes on with the same image
order (drawn from the seed and the epoch), and its crops are drawn afresh (the loader's workers
cannot be saved mid-epoch).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from landmarks.data.imagenet import Split
from landmarks.metrics import error_percent, topk_correct
from landmarks.train.distributed import SINGLE, World
from landmarks.train.image_recipe import ImageRecipe
from landmarks.train.recipe import Recipe
from landmarks.train.sources.image_pipeline import (
    EpochBatches, batch_input, eval_transform, gpu_decode, image_loader, train_transform,
)
from landmarks.train.state import Batch, TrainState

EVAL_BATCH = 250


@dataclass(frozen=True)
class ImageSets:
    root: Path
    train: Split
    val: Split  # held out of the training images, for recipe choices
    test: Split  # what the paper reports on (for ImageNet: the ILSVRC-2012 validation set)
    num_classes: int


class ImageBatches:
    def __init__(self, sets: ImageSets, recipe: Recipe, seed: int, device: torch.device, world: World = SINGLE) -> None:
        self.sets, self.recipe, self.seed, self.device, self.world = sets, recipe, seed, device, world
        self.images = recipe.images or ImageRecipe()
        self.n = len(sets.train.files)
        self.has_val = len(sets.val.files) > 0
        self.steps_per_epoch = world.batches(self.n, recipe.batch_size, recipe.drop_last)
        self.generator = torch.Generator()  # the PCA lighting draws, seeded per rank and epoch
        self.transform = train_transform(self.images)

    def epoch(self, state: TrainState) -> Iterator[Batch]:
        recipe, world = self.recipe, self.world
        batches = EpochBatches(self.n, recipe.batch_size, self.seed, state.epoch, recipe.drop_last, state.batch, world)
        # each rank draws its own crops, flips and colours (the same draws on every rank would make
        # the global batch's augmentation world-size times less varied), reproducibly from
        # (seed, rank, epoch, first batch); on the GPU-decode path the transforms use torch's RNG
        draws = ((self.seed * 1_000_003 + world.rank) * 1009 + state.epoch) * 100_003 + state.batch
        self.generator.manual_seed(draws)
        if gpu_decode(self.images, self.device):
            torch.manual_seed(draws)
        loader = image_loader(self.sets.root, self.sets.train, self.images, True, batches, self.device, seed=draws)
        for b, (x, y) in enumerate(loader, start=state.batch):
            whole = min(recipe.batch_size, self.n - b * recipe.batch_size)  # this global batch's size
            yield Batch(b, whole, None, functools.partial(self._load, x, y))

    def _load(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch_input(x, self.device, self.images, self.transform, self.generator, self.recipe.channels_last)
        return x, y.to(self.device, non_blocking=True)

    def evaluate(self, model: nn.Module, split: str, ks: tuple[int, ...] = (1, 5), bf16: bool = False) -> dict:
        """Top-k error over the "val" or "test" split with the centre crop (a curve, not the claim)."""
        part = self.sets.val if split == "val" else self.sets.test
        return evaluate_images(model, self.sets.root, part, self.images, self.device, self.world, crops=1, bf16=bf16,
                               ks=ks)

    def final_test(self, model: nn.Module, last_row: dict | None, bf16: bool = False) -> dict:
        """The claim's test pass with the recipe's evaluation crops; the last epoch's centre-crop pass
        when that measured this very model with the same crops (not a second pass over the test set)."""
        if last_row is not None and self.images.eval_crops == 1:
            return {"top1_error": last_row["test_error"], "top5_error": last_row["test_top5_error"]}
        return evaluate_images(model, self.sets.root, self.sets.test, self.images, self.device, self.world, bf16=bf16)


def _logits(model: nn.Module, x: torch.Tensor, average: str) -> torch.Tensor:
    if x.dim() == 5:  # (B, crops, 3, H, W): one forward pass over all crops, then their mean
        b, crops = x.shape[:2]
        out = model(x.flatten(0, 1)).float().view(b, crops, -1)
        return (out.softmax(-1) if average == "softmax" else out).mean(1)
    return model(x).float()


@torch.no_grad()
def evaluate_images(model: nn.Module, root: Path, split: Split, images: ImageRecipe, device: torch.device,
                    world: World = SINGLE, crops: int | None = None, bf16: bool = False,
                    ks: tuple[int, ...] = (1, 5), preset: Callable | None = None) -> dict:
    """Top-k error in percent over a split, each image counted once: over several ranks each takes
    a contiguous share (no padding, unlike DistributedSampler) and the counts are summed.
    `crops`: 1 or 10, the recipe's `eval_crops` when None. `preset`: a transform that yields the
    model's normalised input itself (published weights' own), used instead of the recipe's."""
    images = images.model_copy(update={"eval_crops": crops or images.eval_crops})
    model.eval()
    start, end = world.span(len(split.files))
    part = Split(split.files[start:end], split.labels[start:end])
    # EVAL_BATCH images' worth of crops per forward pass: ten crops would make it ten times larger
    batches = EpochBatches(len(part.files), max(1, EVAL_BATCH // images.eval_crops), 0, 0, drop_last=False,
                           shuffle=False)
    correct = torch.zeros(len(ks), dtype=torch.long)
    transform = eval_transform(images)
    for x, y in image_loader(root, part, images, train=False, batches=batches, device=device, preset=preset,
                             prefetch=2):
        x = x.to(device, non_blocking=True) if preset is not None else batch_input(x, device, images, transform)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = _logits(model, x, images.crop_average)
        got = topk_correct(logits, y.to(device), ks)
        correct += torch.tensor([got[k] for k in ks])
    if world.active:
        correct = correct.to(device)
        world.sum_(correct)
    return error_percent(dict(zip(ks, correct.tolist())), len(split.files))
