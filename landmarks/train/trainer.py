"""`Trainer`: one run's model, data, recipe and optimizer, and its training step.

The engine (`landmarks.train.engine`) drives it epoch by epoch; benchmarks and tests use it to
time or compare single steps. Inside a step the order is fixed: learning rate, forward,
backward, step, constraints. Losses and error counts stay on the device (no host sync per step).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.data.loaders import DeviceData
from landmarks.errors import ConfigError
from landmarks.train.augment import augment, batch_layout
from landmarks.train.compile import compiled
from landmarks.train.checkpoint import Checkpointer, rng_state, set_rng_state
from landmarks.train.distributed import SINGLE, World, sync_batchnorm
from landmarks.train.precision import resolve_precision
from landmarks.train.recipe import Recipe
from landmarks.train.schedules import lr_factor
from landmarks.train.signals import Interrupted, StopFlag


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


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params: list | object = model.parameters()
    if recipe.param_rules:  # one group per parameter: its own rate and weight decay
        params = []
        for name, p in model.named_parameters():
            scale, wd = recipe.param_settings(name)
            params.append({"params": [p], "lr": recipe.lr * scale, "weight_decay": wd})
    return torch.optim.SGD(
        params,
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


class Trainer:
    """The pieces one run's epochs share. `fast=None` takes the recipe's fast path on CUDA only;
    `fast=True` forces it (on a CPU it then runs the same step eagerly, for tests). With a `world`
    of several ranks the run is trained data-parallel (landmarks.train.distributed): each rank
    steps on its share of every global batch, and only rank 0 writes checkpoints."""

    def __init__(self, model: nn.Module, data: DeviceData, recipe: Recipe, generator: torch.Generator,
                 checkpoint: Checkpointer | None = None, stop: StopFlag | None = None,
                 fast: bool | None = None, world: World = SINGLE) -> None:
        self.model, self.data, self.recipe, self.generator = model, data, recipe, generator
        self.checkpoint, self.stop = checkpoint, stop
        self.world, self.stop_agreed = world, False
        self.perceptron_rule = recipe.optimizer == "perceptron"
        self.forward = model  # the module a step calls: the model, or its DistributedDataParallel wrapper
        if world.active:
            if self.perceptron_rule:
                raise ConfigError("the perceptron rule updates example by example: it cannot split a batch over "
                                  "processes; set parallel: runs")
            fast = False  # the CUDA graph step is single-process; data-parallel runs take the eager step
            if recipe.sync_bn:
                sync_batchnorm(model, data.y_train.device)
            on_gpu = data.y_train.device.type == "cuda"
            # a conv weight with one input channel has two equally valid strides; DDP warns at every
            # step that its gradient's differ from its bucket's, which costs nothing here
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            self.forward = nn.parallel.DistributedDataParallel(
                model, device_ids=[data.y_train.device] if on_gpu else None)
        if recipe.compile and not self.perceptron_rule:
            self.forward = compiled(self.forward)
        n, bs = len(data.y_train), recipe.batch_size
        self.steps_per_epoch = world.batches(n, bs, recipe.drop_last)
        total = recipe.epochs * self.steps_per_epoch
        self.factor = lr_factor(recipe.schedule, self.steps_per_epoch,
                                min(total, recipe.max_steps) if recipe.max_steps else total)
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self.fast = None
        self.best_state: dict | None = None
        on_cuda = data.y_train.device.type == "cuda"
        self.bf16 = resolve_precision(recipe.precision, data.y_train.device) == "bf16"
        if fast if fast is not None else (recipe.fast and on_cuda):
            if recipe.momentum_start is not None or recipe.dampened:
                raise ConfigError("recipe.fast keeps a fixed, undampened momentum: drop momentum_start and "
                                  "dampened, or set fast: false")
            if recipe.compile:
                raise ConfigError("recipe.fast replays the whole step as a CUDA graph, which recipe.compile "
                                  "cannot enter: set compile: false, or fast: false to compile the eager step")
            if not recipe.drop_last:
                raise ConfigError("recipe.fast needs recipe.drop_last: true (a CUDA graph has fixed batch shapes)")
            from landmarks.train.fast import FastStep

            self.fast = FastStep(model, data.x_train_u8, data.y_train, data.max_value, data.mean, data.std, recipe,
                                 self.steps_per_epoch, graph=on_cuda, bf16=on_cuda and self.bf16,
                                 channels_last=on_cuda and recipe.channels_last)
        elif not self.perceptron_rule:
            if recipe.channels_last:
                model.to(memory_format=torch.channels_last)
            self.optimizer = make_optimizer(model, recipe)
            self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.factor)

    def buffers(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step losses and the misclassified count of one epoch, on the device."""
        if self.fast:  # the fast step writes into buffers that live with its CUDA graph
            return self.fast.losses, self.fast.wrong
        device = self.data.y_train.device
        return torch.zeros(self.steps_per_epoch, device=device), torch.zeros((), device=device, dtype=torch.long)

    def step(self, idx: torch.Tensor, b: int, lr_step: int, losses: torch.Tensor, wrong: torch.Tensor) -> None:
        """One optimizer step on the training examples `idx` (batch `b` of the epoch, global step
        `lr_step`); its loss goes to `losses[b]` and its mistakes are added to `wrong`."""
        if self.fast:
            self.fast.run(idx, b, self.lr_now(lr_step))
            return
        model, recipe = self.model, self.recipe
        share = self.world.shard(idx)  # all of idx in one process
        xb, yb = self.data.x_train[share], self.data.y_train[share]
        if recipe.augment:
            xb = augment(xb, recipe)
        xb = batch_layout(xb, recipe.channels_last)
        with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.forward(xb)
            loss = compute_loss(logits.float(), yb, recipe.loss)
        self.optimizer.zero_grad(set_to_none=True)
        if self.world.active:
            # DDP averages the ranks' gradients; weighting each share's mean loss by its size
            # (times the number of ranks) makes that average the gradient of the global batch's mean
            (loss * (self.world.size * len(share) / len(idx))).backward()
        else:
            loss.backward()
        if recipe.momentum_start is not None or recipe.dampened:
            self._set_momentum(lr_step)
        self.optimizer.step()
        self.scheduler.step()
        if recipe.max_norm > 0:
            apply_max_norm(model, recipe.max_norm)
        losses[b] = loss.detach() * len(yb)
        wrong += (logits.detach().argmax(1) != yb).sum()

    def _set_momentum(self, step: int) -> None:
        # PyTorch's SGD reads momentum and dampening from the group at every step; its first step
        # starts the velocity at the raw gradient whatever the dampening
        m = self.recipe.momentum_at(step / self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["momentum"] = m
            group["dampening"] = m if self.recipe.dampened else 0.0

    def lr_now(self, step: int) -> float:
        return self.recipe.lr * self.factor(step)

    def payload(self, state: TrainState) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else
            ({"fast_momentum": self.fast.momentum} if self.fast else None),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
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
        if self.checkpoint and self.world.writer:
            self.checkpoint.save(self.payload(state), state.step)

    def due_and_stop(self, step: int) -> tuple[bool, bool]:
        """Whether to checkpoint and whether to stop now; the same answer on every rank."""
        due, stopping = due_and_stop(self.checkpoint, self.stop, self.world, step)
        self.stop_agreed = self.stop_agreed or stopping
        return due, stopping

    def maybe_stop(self, state: TrainState) -> None:
        if self.stop_agreed or (self.stop is not None and self.stop.requested):
            self.save(state)
            raise stopped(self.checkpoint, self.stop, state.step)


def due_and_stop(checkpoint: Checkpointer | None, stop: StopFlag | None, world: World, step: int) -> tuple[bool, bool]:
    """Whether to checkpoint and whether to stop at `step`, the same answer on every rank. Only the
    writer's clock decides a checkpoint: the other ranks never save, so theirs would stay due."""
    due = bool(checkpoint and world.writer and checkpoint.due(step))
    stopping = bool(stop is not None and stop.requested)
    return world.agree(due, stopping)


def stopped(checkpoint: Checkpointer | None, stop: StopFlag | None, step: int) -> Interrupted:
    """The error a run stopped by a signal ends with, saying where its checkpoint is."""
    where = f"; checkpoint saved to {checkpoint.path}" if checkpoint else " (no checkpoint: checkpointing is off)"
    # a rank may stop because another one got the signal
    signum = stop.signum if stop is not None and stop.requested else 15
    return Interrupted(f"stopped by signal {signum} at step {step}{where}; run the same command again to resume",
                       signum)
