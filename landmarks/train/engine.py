"""The training engine: `train_one_epoch`, `evaluate`, `fit`.

Inside a step the order is fixed: learning rate, forward, backward, step, constraints. Losses and
error counts stay on the device and are read once per epoch, so the step has no host sync. The
device comes in with the data (no global device), so data-parallel training can wrap it.

`fit` keeps its whole state in a `TrainState`; with a `Checkpointer` it saves that state every
so many steps or seconds and at the end of each due epoch, and `resume` continues from a saved
state to the same numbers an uninterrupted run gives (same data order, same RNG draws).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.catalog import Recipe
from landmarks.data.loaders import DeviceData
from landmarks.errors import ConfigError, TrainingError
from landmarks.metrics import topk_correct
from landmarks.train.augment import augment
from landmarks.train.checkpoint import Checkpointer, Interrupted, StopFlag, rng_state, set_rng_state
from landmarks.train.schedules import lr_factor

EVAL_BATCH = 2048


@dataclass
class TrainState:
    epoch: int = 0  # completed epochs
    step: int = 0  # optimizer steps taken
    batch: int = 0  # batches done inside the current epoch (a checkpoint may fall mid-epoch)
    epoch_order_state: torch.Tensor | None = None  # data-order generator state at the epoch's start
    # the current epoch's per-step losses (x batch size) and misclassified count so far; summed
    # once at the epoch's end, so where a checkpoint fell never changes the float rounding
    epoch_losses: torch.Tensor | None = None
    wrong: int = 0
    history: list = field(default_factory=list)
    best_val: float = math.inf
    stale: int = 0
    selected_epoch: int = 0
    done: bool = False
    first_bad_batch: int = -1  # the batch of the current epoch whose loss was first NaN or infinite


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch
    selected_epoch: int = 0
    test: dict = field(default_factory=dict)  # top1_error, top5_error of the selected model
    steps: int = 0
    seconds: float = 0.0


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )


def compute_loss(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "mse":
        return F.mse_loss(logits, F.one_hot(y, logits.shape[1]).to(logits.dtype))
    return F.cross_entropy(logits, y)


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> None:
    """Srivastava et al. 2014: each unit's incoming weight vector kept within a ball of radius c."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.copy_(torch.renorm(m.weight, p=2, dim=0, maxnorm=max_norm))


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Top-k error in percent over a whole split, batched on the device."""
    model.eval()
    correct = {k: 0 for k in ks}
    for start in range(0, len(y), EVAL_BATCH):
        got = topk_correct(model(x[start : start + EVAL_BATCH]), y[start : start + EVAL_BATCH], ks)
        for k in ks:
            correct[k] += got[k]
    n = max(len(y), 1)
    return {f"top{k}_error": 100.0 * (n - correct[k]) / n for k in ks}


class _Loop:
    """The pieces one run's epochs share; `fit` builds it, `train_one_epoch` drives it."""

    def __init__(self, model, data, recipe, generator, checkpoint, stop, fast: bool | None = None):
        self.model, self.data, self.recipe, self.generator = model, data, recipe, generator
        self.checkpoint, self.stop = checkpoint, stop
        self.perceptron_rule = recipe.optimizer == "perceptron"
        n, bs = len(data.y_train), recipe.batch_size
        self.steps_per_epoch = n // bs if recipe.drop_last else -(-n // bs)
        total = recipe.epochs * self.steps_per_epoch
        self.factor = lr_factor(recipe.schedule, self.steps_per_epoch,
                                min(total, recipe.max_steps) if recipe.max_steps else total)
        self.optimizer = self.scheduler = self.fast = None
        self.scaler = None  # fp16 would need a GradScaler; the fast path uses bf16, which does not
        self.best_state: dict | None = None
        on_cuda = data.y_train.device.type == "cuda"
        if fast if fast is not None else (recipe.fast and on_cuda):
            if not recipe.drop_last:
                raise ConfigError("recipe.fast needs recipe.drop_last: true (a CUDA graph has fixed batch shapes)")
            from landmarks.train.fast import FastStep

            self.fast = FastStep(model, data.x_train_u8, data.y_train, data.max_value, data.mean, data.std, recipe,
                                 self.steps_per_epoch, graph=on_cuda, bf16=on_cuda, channels_last=on_cuda)
        elif not self.perceptron_rule:
            if recipe.channels_last:
                model.to(memory_format=torch.channels_last)
            self.optimizer = make_optimizer(model, recipe)
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.factor)

    def eager_step(self, idx: torch.Tensor, b: int, losses: torch.Tensor, wrong: torch.Tensor) -> None:
        model, recipe = self.model, self.recipe
        xb, yb = self.data.x_train[idx], self.data.y_train[idx]
        if recipe.augment:
            xb = augment(xb, recipe)
        if recipe.channels_last and xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=recipe.precision == "bf16"):
            logits = model(xb)
            loss = compute_loss(logits.float(), yb, recipe.loss)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        if recipe.max_norm > 0:
            apply_max_norm(model, recipe.max_norm)
        losses[b] = loss.detach() * len(yb)
        wrong += (logits.detach().argmax(1) != yb).sum()

    def lr_now(self, step: int) -> float:
        return self.recipe.lr * self.factor(step)

    def payload(self, state: TrainState) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else
            ({"fast_momentum": self.fast.momentum} if self.fast else None),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": rng_state(self.generator),
            "state": asdict(state),
            "best_state": self.best_state,
        }

    def restore(self, payload: dict) -> TrainState:
        self.model.load_state_dict(payload["model"])
        if self.optimizer:
            self.optimizer.load_state_dict(payload["optimizer"])
            self.scheduler.load_state_dict(payload["scheduler"])
        if self.fast:
            with torch.no_grad():
                for m, saved in zip(self.fast.momentum, payload["optimizer"]["fast_momentum"]):
                    m.copy_(saved)
        set_rng_state(payload["rng"], self.generator)
        self.best_state = payload["best_state"]
        return TrainState(**payload["state"])

    def save(self, state: TrainState) -> None:
        if self.checkpoint:
            self.checkpoint.save(self.payload(state), state.step)

    def maybe_stop(self, state: TrainState) -> None:
        if self.stop is not None and self.stop.requested:
            self.save(state)
            where = f"; checkpoint saved to {self.checkpoint.path}" if self.checkpoint else " (no checkpoint: checkpointing is off)"
            raise Interrupted(f"stopped by signal {self.stop.signum} at step {state.step}{where}; run the same command again to resume", self.stop.signum)


def train_one_epoch(loop: _Loop, state: TrainState) -> dict:
    """One pass over the training data, from `state.batch` on (0 unless resuming mid-epoch)."""
    model, recipe, data = loop.model, loop.recipe, loop.data
    x, y = data.x_train, data.y_train
    n = len(y)
    if state.batch == 0:
        state.epoch_order_state = loop.generator.get_state()
        state.epoch_losses, state.wrong = None, 0
    else:
        loop.generator.set_state(state.epoch_order_state)  # the same order as before the stop
    order = torch.randperm(n, generator=loop.generator).to(y.device)
    if loop.perceptron_rule:
        xs, ys = x.flatten(1).cpu(), y.cpu().tolist()
        mistakes = sum(model.update(xs[i], ys[i]) for i in order.cpu().tolist())
        return {"train_loss": float(mistakes), "train_error": 100.0 * mistakes / n}
    model.train()
    steps = loop.steps_per_epoch
    if loop.fast:  # the step writes into buffers that live with its CUDA graph
        losses, wrong = loop.fast.losses, loop.fast.wrong
    else:
        losses = torch.zeros(steps, device=y.device)  # per-step losses: NaNs found without a sync per step
        wrong = torch.zeros((), device=y.device, dtype=torch.long)
    losses.zero_()
    wrong.fill_(state.wrong)
    if state.epoch_losses is not None:  # resuming mid-epoch: the steps already taken
        losses.copy_(state.epoch_losses.to(losses.device))
    for b in range(state.batch, steps):
        if recipe.max_steps and state.step >= recipe.max_steps:
            break
        idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
        if loop.fast:
            loop.fast.run(idx, b, loop.lr_now(state.step))
        else:
            loop.eager_step(idx, b, losses, wrong)
        state.batch, state.step = b + 1, state.step + 1
        if (loop.checkpoint and loop.checkpoint.due(state.step)) or (loop.stop and loop.stop.requested):
            _fold(state, losses, wrong, b + 1)
            _check_finite(state, loop)
            if loop.checkpoint and loop.checkpoint.due(state.step):
                loop.save(state)
            loop.maybe_stop(state)
    _fold(state, losses, wrong, steps)
    _check_finite(state, loop)
    seen = min(n, state.batch * recipe.batch_size)  # examples trained on this epoch
    return {"train_loss": float(losses.sum()) / seen, "train_error": 100.0 * state.wrong / seen}


def _fold(state: TrainState, losses: torch.Tensor, wrong: torch.Tensor, upto: int) -> None:
    """Copy the device-side per-step losses and error count into the state (one host sync)."""
    bad = (~torch.isfinite(losses[:upto])).nonzero()
    if len(bad) and state.first_bad_batch < 0:
        state.first_bad_batch = int(bad[0])
    state.epoch_losses = losses.detach().to("cpu", copy=True)
    state.wrong = int(wrong)


def _check_finite(state: TrainState, loop: _Loop) -> None:
    if state.first_bad_batch >= 0:
        batch = state.first_bad_batch
        step = state.epoch * loop.steps_per_epoch + batch + 1
        raise TrainingError(
            f"loss became NaN or infinite at step {step} (epoch {state.epoch + 1}); the run is stopped. "
            f"Lower the learning rate (now {loop.recipe.lr:g}) or train in fp32.",
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
) -> FitResult:
    """Train for `recipe.epochs` epochs, select the reported epoch, evaluate it on the test set."""
    t0 = time.perf_counter()
    loop = _Loop(model, data, recipe, generator, checkpoint, stop)
    state = loop.restore(resume) if resume else TrainState()
    has_val = len(data.y_val) > 0
    while not state.done and state.epoch < recipe.epochs and not (recipe.max_steps and state.step >= recipe.max_steps):
        t_epoch = time.perf_counter()
        lr = 1.0 if loop.perceptron_rule else loop.lr_now(state.step)
        row = train_one_epoch(loop, state)
        state.epoch += 1
        state.batch = 0
        val = evaluate(model, data.x_val, data.y_val, ks=(1,)) if has_val else {"top1_error": math.nan}
        test = evaluate(model, data.x_test, data.y_test)
        row = {"epoch": state.epoch, "lr": lr, **row, "val_error": val["top1_error"],
               "test_error": test["top1_error"], "test_top5_error": test["top5_error"],
               "seconds": time.perf_counter() - t_epoch}
        state.history.append(row)
        if has_val and val["top1_error"] < state.best_val:
            state.best_val, state.stale, state.selected_epoch = val["top1_error"], 0, state.epoch
            if recipe.select == "best_val":
                loop.best_state = copy.deepcopy(model.state_dict())
        else:
            state.stale += 1
        if recipe.early_stopping_patience and has_val and state.stale >= recipe.early_stopping_patience:
            state.done = True
        if loop.perceptron_rule and row["train_loss"] == 0:
            state.done = True  # converged: the rule makes no more changes
        if on_epoch:
            on_epoch(row)
        if checkpoint and (checkpoint.due(state.step) or loop.perceptron_rule and checkpoint.every_steps):
            loop.save(state)
        loop.maybe_stop(state)
    if recipe.select == "best_val" and loop.best_state is not None:
        model.load_state_dict(loop.best_state)
    else:
        state.selected_epoch = len(state.history)
    return FitResult(
        history=state.history,
        selected_epoch=state.selected_epoch,
        test=evaluate(model, data.x_test, data.y_test),
        steps=state.step,
        seconds=time.perf_counter() - t0,
    )
