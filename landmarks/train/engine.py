"""The training engine: `train_one_epoch`, `evaluate`, `fit`.

`fit` keeps a run's whole state in a `TrainState`; with a `Checkpointer` it saves that state every
so many steps or seconds and at the end of each due epoch, and `resume` continues from a saved
state to the same numbers an uninterrupted run gives (same data order, same RNG draws). The
device comes in with the data (no global device), so data-parallel training can wrap it.

    from landmarks.train.engine import fit
    result = fit(model, data, recipe, seed_everything(0))
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from landmarks.data.loaders import DeviceData
from landmarks.errors import TrainingError
from landmarks.metrics import error_percent, topk_correct
from landmarks.train.checkpoint import Checkpointer
from landmarks.train.distributed import SINGLE, World
from landmarks.train.perceptron import perceptron_epoch
from landmarks.train.recipe import Recipe
from landmarks.train.signals import StopFlag
from landmarks.train.trainer import Trainer, TrainState

EVAL_BATCH = 2048


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch
    selected_epoch: int = 0
    test: dict = field(default_factory=dict)  # top1_error, top5_error of the selected model
    steps: int = 0
    seconds: float = 0.0


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


def train_one_epoch(trainer: Trainer, state: TrainState) -> dict:
    """One pass over the training data, from `state.batch` on (0 unless resuming mid-epoch)."""
    recipe, data = trainer.recipe, trainer.data
    y = data.y_train
    n = len(y)
    if state.batch == 0:
        state.epoch_order_state = trainer.generator.get_state()
        state.epoch_losses, state.wrong = None, 0
    else:
        trainer.generator.set_state(state.epoch_order_state)  # the same order as before the stop
    if trainer.perceptron_rule:
        mistakes = perceptron_epoch(trainer.model, data.x_train, y, trainer.generator)
        return {"train_loss": float(mistakes), "train_error": 100.0 * mistakes / n}
    order = torch.randperm(n, generator=trainer.generator).to(y.device)
    trainer.model.train()
    steps = trainer.steps_per_epoch
    losses, wrong = trainer.buffers()
    losses.zero_()
    # the saved partial sums are global (all ranks'): one rank carries them on
    keep = trainer.world.writer
    wrong.fill_(state.wrong if keep else 0)
    if state.epoch_losses is not None and keep:  # resuming mid-epoch: the steps already taken
        losses.copy_(state.epoch_losses.to(losses.device))
    for b in range(state.batch, steps):
        if recipe.max_steps and state.step >= recipe.max_steps:
            break
        trainer.step(order[b * recipe.batch_size : (b + 1) * recipe.batch_size], b, state.step, losses, wrong)
        state.batch, state.step = b + 1, state.step + 1
        due, stopping = trainer.due_and_stop(state.step)
        if due or stopping:
            _fold(state, losses, wrong, b + 1, trainer.world)
            _check_finite(state, trainer)
            if due:
                trainer.save(state)
            trainer.maybe_stop(state)
    _fold(state, losses, wrong, steps, trainer.world)
    _check_finite(state, trainer)
    seen = min(n, state.batch * recipe.batch_size)  # examples trained on this epoch
    total = float(state.epoch_losses.sum()) if trainer.world.active else float(losses.sum())  # all ranks'
    return {"train_loss": total / seen, "train_error": 100.0 * state.wrong / seen}


def _fold(state: TrainState, losses: torch.Tensor, wrong: torch.Tensor, upto: int, world: World = SINGLE) -> None:
    """Copy the device-side per-step losses and error count into the state (one host sync);
    over several ranks, their sums over the ranks."""
    if world.active:
        losses, wrong = losses.clone(), wrong.clone()
        world.sum_(losses, wrong)
    bad = (~torch.isfinite(losses[:upto])).nonzero()
    if len(bad) and state.first_bad_batch < 0:
        state.first_bad_batch = int(bad[0])
    state.epoch_losses = losses.detach().to("cpu", copy=True)
    state.wrong = int(wrong)


def _check_finite(state: TrainState, trainer: Trainer) -> None:
    if state.first_bad_batch >= 0:
        batch = state.first_bad_batch
        step = state.epoch * trainer.steps_per_epoch + batch + 1
        raise TrainingError(
            f"loss became NaN or infinite at step {step} (epoch {state.epoch + 1}); the run is stopped. "
            f"Lower the learning rate (now {trainer.recipe.lr:g}) or train in fp32.",
            step=step,
        )


def fit(
    model: nn.Module,
    data: DeviceData,
    recipe: Recipe,
    generator: torch.Generator,
    on_epoch: Callable[[dict], None] | None = None,
    checkpoint: Checkpointer | None = None,
    resume: dict | None = None,
    stop: StopFlag | None = None,
    world: World = SINGLE,
) -> FitResult:
    """Train for `recipe.epochs` epochs, select the reported epoch, evaluate it on the test set
    (data-parallel over the ranks of `world` when it has several)."""
    t0 = time.perf_counter()
    trainer = Trainer(model, data, recipe, generator, checkpoint, stop, world=world)
    state = trainer.restore(resume) if resume else TrainState()
    has_val = len(data.y_val) > 0
    while not state.done and state.epoch < recipe.epochs and not (recipe.max_steps and state.step >= recipe.max_steps):
        t_epoch = time.perf_counter()
        lr = 1.0 if trainer.perceptron_rule else trainer.lr_now(state.step)
        row = train_one_epoch(trainer, state)
        state.epoch += 1
        state.batch = 0
        val = evaluate(model, data.x_val, data.y_val, ks=(1,), world=world) if has_val else {"top1_error": math.nan}
        test = evaluate(model, data.x_test, data.y_test, world=world)
        row = {"epoch": state.epoch, "lr": lr, **row, "val_error": val["top1_error"],
               "test_error": test["top1_error"], "test_top5_error": test["top5_error"],
               "seconds": time.perf_counter() - t_epoch}
        state.history.append(row)
        if has_val and val["top1_error"] < state.best_val:
            state.best_val, state.stale, state.selected_epoch = val["top1_error"], 0, state.epoch
            if recipe.select == "best_val":
                trainer.best_state = copy.deepcopy(model.state_dict())
        else:
            state.stale += 1
        if recipe.early_stopping_patience and has_val and state.stale >= recipe.early_stopping_patience:
            state.done = True
        if recipe.stop_at_threshold and recipe.threshold and row["train_error"] <= recipe.threshold:
            state.done = True
        if trainer.perceptron_rule and row["train_loss"] == 0:
            state.done = True  # converged: the rule makes no more changes
        if on_epoch:
            on_epoch(row)
        due, _ = trainer.due_and_stop(state.step)
        if due or (checkpoint and trainer.perceptron_rule and checkpoint.every_steps):
            trainer.save(state)
        trainer.maybe_stop(state)
    if recipe.select == "best_val" and trainer.best_state is not None:
        model.load_state_dict(trainer.best_state)
    else:
        state.selected_epoch = len(state.history)
    return FitResult(
        history=state.history,
        selected_epoch=state.selected_epoch,
        test=evaluate(model, data.x_test, data.y_test, world=world),
        steps=state.step,
        seconds=time.perf_counter() - t0,
    )
