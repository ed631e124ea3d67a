"""Training and evaluation on images decoded per batch (ImageNet), the counterpart of `engine.fit`
for data that does not fit on the device.

    result = fit_images(model, ImageSets(root, train, val, test, classes), recipe, seed=0, device=device)

The optimizer, schedule, loss, precision and data-parallel rules are the engine's; batches come
from a DataLoader instead of slices of a device tensor. A checkpoint holds the position inside
the epoch; the resumed epoch goes on with the same image order (drawn from the seed and the
epoch), and its crops are drawn afresh (the loader's workers cannot be saved mid-epoch).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from landmarks.data.imagenet import Split
from landmarks.errors import TrainingError
from landmarks.metrics import error_percent, topk_correct
from landmarks.train.checkpoint import Checkpointer, rng_state, set_rng_state
from landmarks.train.distributed import SINGLE, World, sync_batchnorm
from landmarks.train.engine import FitResult
from landmarks.train.image_data import (
    EpochBatches, batch_input, eval_transform, gpu_decode, image_loader, train_transform,
)
from landmarks.train.image_recipe import ImageRecipe
from landmarks.train.precision import resolve_precision
from landmarks.train.recipe import Recipe
from landmarks.train.schedules import lr_factor
from landmarks.train.signals import StopFlag
from landmarks.train.trainer import TrainState, compute_loss, due_and_stop, make_optimizer, stopped

EVAL_BATCH = 250
# an ImageNet epoch takes minutes to hours: a line this often inside it, so a run is never silent
LINE_EVERY_S = 60.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSets:
    root: Path
    train: Split
    val: Split  # held out of the training images, for recipe choices
    test: Split  # what the paper reports on (for ImageNet: the ILSVRC-2012 validation set)
    num_classes: int


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
    if world.active:  # each rank's BatchNorm statistics moved at its last step: evaluate rank 0's model
        world.broadcast_(*model.buffers())
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


class _Run:
    """One run's optimizer, schedule and step over loader batches."""

    def __init__(self, model: nn.Module, sets: ImageSets, recipe: Recipe, seed: int, device: torch.device,
                 world: World) -> None:
        self.model, self.sets, self.recipe, self.seed, self.device, self.world = model, sets, recipe, seed, device, world
        self.images = recipe.images or ImageRecipe()
        self.n = len(sets.train.files)
        self.steps_per_epoch = world.batches(self.n, recipe.batch_size, recipe.drop_last)
        total = recipe.epochs * self.steps_per_epoch
        if recipe.channels_last:
            model.to(memory_format=torch.channels_last)
        self.forward = model
        if world.active and recipe.sync_bn:
            sync_batchnorm(model, device)
        if world.active:
            self.forward = nn.parallel.DistributedDataParallel(
                model, device_ids=[device] if device.type == "cuda" else None)
        self.optimizer = make_optimizer(model, recipe)
        self.factor = lr_factor(recipe.schedule, self.steps_per_epoch, min(total, recipe.max_steps or total))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.factor)
        self.bf16 = resolve_precision(recipe.precision, device) == "bf16"
        self.colour = torch.Generator()  # the PCA lighting draws, seeded per rank and epoch
        self.transform = train_transform(self.images)
        self.best_state: dict | None = None

    def payload(self, state: TrainState) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "rng": rng_state(self.colour), "state": asdict(state),
                "best_state": self.best_state}

    def restore(self, payload: dict) -> TrainState:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        set_rng_state(payload["rng"], self.colour)
        self.best_state = payload["best_state"]
        return TrainState(**payload["state"])

    def epoch(self, state: TrainState, checkpoint: Checkpointer | None, stop: StopFlag | None) -> dict:
        recipe, world, device = self.recipe, self.world, self.device
        batches = EpochBatches(self.n, recipe.batch_size, self.seed, state.epoch, recipe.drop_last, state.batch, world)
        # each rank draws its own crops, flips and colours (the same draws on every rank would make
        # the global batch's augmentation world-size times less varied), reproducibly from
        # (seed, rank, epoch, first batch); on the GPU-decode path the transforms use torch's RNG
        draws = ((self.seed * 1_000_003 + world.rank) * 1009 + state.epoch) * 100_003 + state.batch
        self.colour.manual_seed(draws)
        if gpu_decode(self.images, device):
            torch.manual_seed(draws)
        loader = image_loader(self.sets.root, self.sets.train, self.images, True, batches, device, seed=draws)
        # the epoch's loss sum and mistakes so far (all ranks'), carried through a checkpoint
        sums = torch.zeros(2, dtype=torch.float64, device=device)
        if state.batch and state.epoch_losses is not None and world.writer:
            sums[0], sums[1] = float(state.epoch_losses.sum()), float(state.wrong)
        self.model.train()
        last, last_batch = time.perf_counter(), state.batch
        for b, (x, y) in enumerate(loader, start=state.batch):
            if recipe.max_steps and state.step >= recipe.max_steps:
                break
            x = batch_input(x, device, self.images, self.transform, self.colour, recipe.channels_last)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = self.forward(x)
                loss = compute_loss(logits.float(), y, recipe.loss)
            self.optimizer.zero_grad(set_to_none=True)
            whole = min(recipe.batch_size, self.n - b * recipe.batch_size)  # this global batch's size
            (loss * (world.size * len(y) / whole)).backward()  # DDP's mean over ranks: the global batch's mean
            self.optimizer.step()
            self.scheduler.step()
            sums[0] += loss.detach().double() * len(y)
            sums[1] += (logits.detach().argmax(1) != y).sum()
            state.batch, state.step = b + 1, state.step + 1
            if world.writer and time.perf_counter() - last >= LINE_EVERY_S:
                rate = (b + 1 - last_batch) * recipe.batch_size / (time.perf_counter() - last)
                log.info("      epoch %d: batch %d/%d, %.0f images/s", state.epoch + 1, b + 1, self.steps_per_epoch, rate)
                last, last_batch = time.perf_counter(), b + 1
            due, stopping = due_and_stop(checkpoint, stop, world, state.step)
            if due or stopping:
                self._fold(state, sums)
                if checkpoint and world.writer:
                    checkpoint.save(self.payload(state), state.step)
            if stopping:
                world.barrier()  # no rank exits while the writer's checkpoint is being written
                raise stopped(checkpoint, stop, state.step)
        self._fold(state, sums)
        seen = min(self.n, state.batch * recipe.batch_size)
        loss_sum, wrong = float(state.epoch_losses.sum()), state.wrong
        return {"train_loss": loss_sum / max(seen, 1), "train_error": 100.0 * wrong / max(seen, 1)}

    def _fold(self, state: TrainState, sums: torch.Tensor) -> None:
        """The epoch's sums over the ranks into the state; stops a run whose loss is no longer
        finite before a checkpoint could keep its weights."""
        total = sums.clone()
        self.world.sum_(total)
        state.epoch_losses = total[:1].cpu()
        state.wrong = int(total[1])
        if not math.isfinite(float(total[0])):
            raise TrainingError(f"loss became NaN or infinite in epoch {state.epoch + 1} (by step {state.step}); the "
                                f"run is stopped. Lower the learning rate (now {self.recipe.lr:g}) or train in fp32.",
                                step=state.step)


def fit_images(model: nn.Module, sets: ImageSets, recipe: Recipe, seed: int, device: torch.device,
               on_epoch: Callable[[dict], None] | None = None, checkpoint: Checkpointer | None = None,
               resume: dict | None = None, stop: StopFlag | None = None, world: World = SINGLE) -> FitResult:
    """Train for `recipe.epochs` epochs (or `max_steps`), then evaluate the selected model on the
    test split with the recipe's evaluation crops."""
    t0 = time.perf_counter()
    run = _Run(model, sets, recipe, seed, device, world)
    state = run.restore(resume) if resume else TrainState()
    has_val = len(sets.val.files) > 0
    while state.epoch < recipe.epochs and not (recipe.max_steps and state.step >= recipe.max_steps):
        t_epoch, lr = time.perf_counter(), recipe.lr * run.factor(state.step)
        row = run.epoch(state, checkpoint, stop)
        state.epoch, state.batch = state.epoch + 1, 0
        evaluate = dict(root=sets.root, images=run.images, device=device, world=world, crops=1, bf16=run.bf16)
        val = evaluate_images(model, split=sets.val, ks=(1,), **evaluate) if has_val else {"top1_error": math.nan}
        test = evaluate_images(model, split=sets.test, **evaluate)  # the centre crop: a curve, not the claim
        row = {"epoch": state.epoch, "lr": lr, **row, "val_error": val["top1_error"], "test_error": test["top1_error"],
               "test_top5_error": test["top5_error"], "seconds": time.perf_counter() - t_epoch}
        state.history.append(row)
        if has_val and val["top1_error"] < state.best_val:
            state.best_val, state.selected_epoch = val["top1_error"], state.epoch
            if recipe.select == "best_val":
                run.best_state = copy.deepcopy(model.state_dict())
        if on_epoch:
            on_epoch(row)
        if checkpoint and world.writer:
            checkpoint.save(run.payload(state), state.step)  # an epoch of ImageNet is worth keeping
    if recipe.select == "best_val" and run.best_state is not None:
        model.load_state_dict(run.best_state)
    else:
        state.selected_epoch = len(state.history)
    last = state.history[-1] if state.history else None
    if last and run.images.eval_crops == 1 and state.selected_epoch == len(state.history):
        # the last epoch's centre-crop pass measured this very model: not a second pass over the test set
        test = {"top1_error": last["test_error"], "top5_error": last["test_top5_error"]}
    else:
        test = evaluate_images(model, sets.root, sets.test, run.images, device, world, bf16=run.bf16)
    return FitResult(history=state.history, selected_epoch=state.selected_epoch, test=test, steps=state.step,
                     seconds=time.perf_counter() - t0)
