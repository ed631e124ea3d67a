"""The training loop: `train_one_epoch`, `fit`. Every supervised task trains here; where the
batches come from (tensors on the device, or images decoded per batch) is the batch source's
business, and what a step does is the step's (`landmarks.train.steps`).

`fit` keeps a run's whole state in a `TrainState`; with a `Checkpointer` it saves that state every
so many steps or seconds and at the end of each due epoch, and `resume` continues from a saved
state to the same numbers an uninterrupted run gives (same data order, same RNG draws).

    from landmarks.train.loop import fit
    result = fit(Trainer(model, DeviceBatches(data, recipe, seed_everything(0)), recipe))
"""

from __future__ import annotations

import copy
import logging
import math
import time
from typing import Callable

import torch

from landmarks.errors import TrainingError
from landmarks.train.recipe import Recipe
from landmarks.train.state import FitResult, TrainState
from landmarks.train.trainer import Trainer

# a long epoch (ImageNet, per-example steps) says where it is this often, so a run is never silent
LINE_EVERY_S = 60.0
log = logging.getLogger(__name__)


def train_one_epoch(trainer: Trainer, state: TrainState) -> dict:
    """One pass over the training data, from `state.batch` on (0 unless resuming mid-epoch)."""
    recipe, world = trainer.recipe, trainer.world
    if state.batch == 0:
        state.epoch_losses, state.wrong = None, 0
    trainer.model.train()
    losses, wrong = trainer.buffers()
    losses.zero_()
    # the saved partial sums are global (all ranks'): one rank carries them on
    wrong.fill_(state.wrong if world.writer else 0)
    if state.epoch_losses is not None and world.writer:  # resuming mid-epoch: the steps already taken
        losses.copy_(state.epoch_losses.to(losses.device))
    clock = _Clock(state.batch)
    for batch in trainer.source.epoch(state):
        if recipe.max_steps and state.step >= recipe.max_steps:
            break
        trainer.step(batch, state.step, losses, wrong)
        state.batch, state.step = batch.index + 1, state.step + 1
        if _point_due(trainer, state):
            _point(trainer, state, losses, wrong)
        due, stopping = trainer.due_and_stop(state.step)
        if due or stopping:
            _fold(trainer, state, losses, wrong, batch.index + 1)
            if due:
                trainer.save(state)
            trainer.maybe_stop(state)
        if world.writer:
            clock.tell(state, trainer.steps_per_epoch, recipe.batch_size)
    _fold(trainer, state, losses, wrong, trainer.steps_per_epoch)
    seen = min(trainer.source.n, state.batch * recipe.batch_size)  # examples trained on this epoch
    total = float(state.epoch_losses.sum()) if world.active else float(losses.sum())  # all ranks'
    return {"train_loss": total / max(seen, 1), "train_error": 100.0 * state.wrong / max(seen, 1)}


class _Clock:
    """A line now and then inside a long epoch: where it is and how fast it goes."""

    def __init__(self, batch: int) -> None:
        self.last, self.last_batch = time.perf_counter(), batch

    def tell(self, state: TrainState, steps: int, batch_size: int) -> None:
        now = time.perf_counter()
        if now - self.last >= LINE_EVERY_S:
            rate = (state.batch - self.last_batch) * batch_size / (now - self.last)
            log.info("      epoch %d: batch %d/%d, %.0f examples/s", state.epoch + 1, state.batch, steps, rate)
            self.last, self.last_batch = now, state.batch


def _point_due(trainer: Trainer, state: TrainState) -> bool:
    """A mid-epoch point is due (an epoch's end, and the last step, have their epoch row)."""
    every, recipe = trainer.recipe.eval_every_steps, trainer.recipe
    return bool(every) and state.step % every == 0 and state.batch < trainer.steps_per_epoch and not (
        recipe.max_steps and state.step >= recipe.max_steps)


def _point(trainer: Trainer, state: TrainState, losses: torch.Tensor, wrong: torch.Tensor) -> None:
    """A point of the curves against iterations: the test error now, the training error of the
    epoch's steps so far. Evaluating draws no random number and moves no statistic, so the run
    goes on exactly as it would have without it."""
    _fold(trainer, state, losses, wrong, state.batch)
    seen = min(trainer.source.n, state.batch * trainer.recipe.batch_size)
    trainer.world.broadcast_(*trainer.model.buffers())
    test = trainer.source.evaluate(trainer.model, "test", (1,), trainer.bf16)
    trainer.model.train()
    state.points.append({"epoch": state.epoch + state.batch / trainer.steps_per_epoch, "step": state.step,
                         "train_error": 100.0 * state.wrong / max(seen, 1), "test_error": test["top1_error"]})


def _fold(trainer: Trainer, state: TrainState, losses: torch.Tensor, wrong: torch.Tensor, upto: int) -> None:
    """The device-side per-step losses and error count into the state (one host sync), summed over
    the ranks; stops a run whose loss is no longer finite before a checkpoint keeps its weights."""
    if trainer.world.active:
        losses, wrong = losses.clone(), wrong.clone()
        trainer.world.sum_(losses, wrong)
    bad = (~torch.isfinite(losses[:upto])).nonzero()
    if len(bad) and state.first_bad_batch < 0:
        state.first_bad_batch = int(bad[0])
    state.epoch_losses = losses.detach().to("cpu", copy=True)
    state.wrong = int(wrong)
    if state.first_bad_batch >= 0:
        step = state.epoch * trainer.steps_per_epoch + state.first_bad_batch + 1
        raise TrainingError(
            f"loss became NaN or infinite at step {step} (epoch {state.epoch + 1}); the run is stopped. "
            f"Lower the learning rate (now {trainer.recipe.lr:g}) or train in fp32.",
            step=step,
        )


def _evaluate_epoch(trainer: Trainer, state: TrainState, row: dict) -> dict:
    """The epoch's row with its validation and test errors. Under several ranks each rank's
    BatchNorm statistics moved at its own last step: every rank evaluates rank 0's."""
    source, model = trainer.source, trainer.model
    trainer.world.broadcast_(*model.buffers())
    val = source.evaluate(model, "val", (1,), trainer.bf16) if source.has_val else {"top1_error": math.nan}
    test = source.evaluate(model, "test", (1, 5), trainer.bf16)
    return {**row, "val_error": val["top1_error"], "test_error": test["top1_error"],
            "test_top5_error": test["top5_error"]}


def _evaluated(recipe: Recipe, state: TrainState) -> bool:
    """Whether the epoch just ended gets its validation and test errors: every
    `eval_every_epochs`-th, and the run's last (a stop decided after the epoch, on its training
    error, is evaluated by `fit` then)."""
    last = state.epoch >= recipe.epochs or bool(recipe.max_steps and state.step >= recipe.max_steps)
    return last or state.epoch % recipe.eval_every_epochs == 0


def _after_epoch(trainer: Trainer, state: TrainState, row: dict) -> None:
    """Best validation so far, and the recipe's reasons to stop early."""
    recipe, has_val = trainer.recipe, trainer.source.has_val and "val_error" in row
    if has_val and row["val_error"] < state.best_val:
        state.best_val, state.stale, state.selected_epoch = row["val_error"], 0, state.epoch
        if recipe.select == "best_val":
            trainer.best_state = copy.deepcopy(trainer.model.state_dict())
    else:
        state.stale += 1
    if recipe.early_stopping_patience and has_val and state.stale >= recipe.early_stopping_patience:
        state.done = True
    if recipe.stop_at_threshold and recipe.threshold and row["train_error"] <= recipe.threshold:
        state.done = True
    if trainer.perceptron_rule and row["train_loss"] == 0:
        state.done = True  # converged: the rule makes no more changes


def fit(trainer: Trainer, on_epoch: Callable[[dict], None] | None = None, resume: dict | None = None) -> FitResult:
    """Train for `recipe.epochs` epochs (or `max_steps`), select the reported epoch, and give its
    test error (data-parallel over the trainer's ranks when it has several)."""
    t0 = time.perf_counter()
    recipe = trainer.recipe
    state = trainer.restore(resume) if resume else TrainState()
    while not state.done and state.epoch < recipe.epochs and not (recipe.max_steps and state.step >= recipe.max_steps):
        t_epoch, lr = time.perf_counter(), 1.0 if trainer.perceptron_rule else trainer.lr_now(state.step)
        row = train_one_epoch(trainer, state)
        state.epoch, state.batch = state.epoch + 1, 0
        row = {"epoch": state.epoch, "step": state.step, "lr": lr, **row}
        if _evaluated(recipe, state):
            row = _evaluate_epoch(trainer, state, row)
        row["seconds"] = time.perf_counter() - t_epoch
        state.history.append(row)
        _after_epoch(trainer, state, row)
        if state.done and "test_error" not in row:  # a stop decided on the training error: the last
            row.update(_evaluate_epoch(trainer, state, row))  # epoch always has its errors
        if on_epoch:
            on_epoch(row)
        due, _ = trainer.due_and_stop(state.step)
        if due:
            trainer.save(state)
        trainer.maybe_stop(state)
    if recipe.select == "best_val" and trainer.best_state is not None:
        trainer.model.load_state_dict(trainer.best_state)
    else:
        state.selected_epoch = len(state.history)
    last = state.history[-1] if state.history and state.selected_epoch == len(state.history) else None
    trainer.world.broadcast_(*trainer.model.buffers())
    test = trainer.source.final_test(trainer.model, last, trainer.bf16)
    return FitResult(history=state.history, points=state.points, selected_epoch=state.selected_epoch, test=test,
                     steps=state.step, seconds=time.perf_counter() - t0)
