"""`Trainer`: one run's model, prepared once in recipe order, its optimizer, schedule and step, and
the one place its checkpoint payload is built and read back.

    trainer = Trainer(model, DeviceBatches(data, recipe, generator), recipe)   # or Trainer.on_device(...)
    trainer.step(trainer.source.batch(idx, 0), 0, *trainer.buffers())         # one step on examples idx

The loop (`landmarks.train.loop.fit`) drives it; benchmarks and tests use it to time or compare
single steps.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict

import torch
from torch import nn

from landmarks.data.loaders import DeviceData
from landmarks.errors import ConfigError
from landmarks.train.agreement import due_and_stop, stopped
from landmarks.train.checkpoint import Checkpointer, rng_state, set_rng_state
from landmarks.train.compile import compiled
from landmarks.train.distributed import SINGLE, World, sync_batchnorm
from landmarks.train.precision import resolve_precision
from landmarks.train.recipe import Recipe
from landmarks.train.schedules import lr_factor
from landmarks.train.signals import StopFlag
from landmarks.train.sources.device import DeviceBatches
from landmarks.train.state import TrainState
from landmarks.train.steps.perceptron import PerceptronStep
from landmarks.train.steps.sgd import SGDStep, make_optimizer


class Trainer:
    """`source`: a batch source (`landmarks.train.sources`). `fast=None` takes the recipe's CUDA
    graph step on CUDA only; `fast=True` forces it (on a CPU it then runs the same step eagerly,
    for tests). With a `world` of several ranks the run is trained data-parallel
    (landmarks.train.distributed): each rank steps on its share of every global batch, and only
    rank 0 writes checkpoints."""

    def __init__(self, model: nn.Module, source, recipe: Recipe, checkpoint: Checkpointer | None = None,
                 stop: StopFlag | None = None, fast: bool | None = None, world: World = SINGLE) -> None:
        self.model, self.source, self.recipe = model, source, recipe
        self.checkpoint, self.stop, self.world, self.stop_agreed = checkpoint, stop, world, False
        self.device = source.device
        self.perceptron_rule = recipe.optimizer == "perceptron"
        self.steps_per_epoch = source.steps_per_epoch
        total = recipe.epochs * self.steps_per_epoch
        self.factor = lr_factor(recipe.schedule, self.steps_per_epoch,
                                min(total, recipe.max_steps) if recipe.max_steps else total)
        self.bf16 = resolve_precision(recipe.precision, self.device) == "bf16"
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: torch.optim.lr_scheduler.LambdaLR | None = None
        self.best_state: dict | None = None
        self.fast = None
        use_fast = not world.active and (fast if fast is not None else recipe.fast and self.device.type == "cuda")
        if self.perceptron_rule:
            if world.active:
                raise ConfigError("the perceptron rule updates example by example: it cannot split a batch over "
                                  "processes; set parallel: runs")
            self.step = PerceptronStep(model)
        elif use_fast:
            self.step = self.fast = self._fast_step()
        else:
            self.step = self._sgd_step()

    @classmethod
    def on_device(cls, model: nn.Module, data: DeviceData, recipe: Recipe, generator: torch.Generator,
                  checkpoint: Checkpointer | None = None, stop: StopFlag | None = None, fast: bool | None = None,
                  world: World = SINGLE) -> "Trainer":
        """A trainer fed by `data` held whole on the device, in an order drawn from `generator`."""
        return cls(model, DeviceBatches(data, recipe, generator, world), recipe, checkpoint, stop, fast, world)

    def _sgd_step(self) -> SGDStep:
        """torchvision's order: sync_bn, memory layout, DDP (whose buckets take the parameters'
        strides as they are then), compile, optimizer, schedule."""
        model, recipe, world = self.model, self.recipe, self.world
        forward = model  # the module a step calls: the model, or its DistributedDataParallel wrapper
        if world.active and recipe.sync_bn:
            sync_batchnorm(model, self.device)
        if recipe.channels_last:
            model.to(memory_format=torch.channels_last)
        if world.active:
            # a conv weight with one input channel has two equally valid strides; DDP warns at every
            # step that its gradient's differ from its bucket's, which costs nothing here
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            forward = nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device] if self.device.type == "cuda" else None)
        if recipe.compile and recipe.optimizer != "sdlm":  # SDLM's step compiles whole (SGDStep)
            forward = compiled(forward)
        self.optimizer = make_optimizer(model, recipe)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self.factor)
        sample = getattr(self.source, "sample", None)
        if recipe.optimizer == "sdlm" and sample is None:
            raise ConfigError("optimizer: sdlm estimates its curvature on examples drawn from data held whole on the "
                              "device; images decoded per batch cannot give them: use sgd")
        return SGDStep(model, forward, self.optimizer, self.scheduler, recipe, world, self.bf16, self.steps_per_epoch,
                       sample)

    def _fast_step(self):
        recipe, data, on_cuda = self.recipe, getattr(self.source, "data", None), self.device.type == "cuda"
        if data is None:
            raise ConfigError("recipe.fast gathers its batches from data held whole on the device; images decoded "
                              "per batch cannot feed it: set fast: false")
        if recipe.momentum_start is not None or recipe.dampened:
            raise ConfigError("recipe.fast keeps a fixed, undampened momentum: drop momentum_start and "
                              "dampened, or set fast: false")
        if recipe.compile:
            raise ConfigError("recipe.fast replays the whole step as a CUDA graph, which recipe.compile "
                              "cannot enter: set compile: false, or fast: false to compile the eager step")
        if not recipe.drop_last:
            raise ConfigError("recipe.fast needs recipe.drop_last: true (a CUDA graph has fixed batch shapes)")
        from landmarks.train.steps.fast import FastStep

        return FastStep(self.model, data.x_train_u8, data.y_train, data.max_value, data.mean, data.std, recipe,
                        self.steps_per_epoch, graph=on_cuda, bf16=on_cuda and self.bf16,
                        channels_last=on_cuda and recipe.channels_last, lr_at=self.lr_now)

    def buffers(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step losses and the misclassified count of one epoch, on the device."""
        if self.fast:  # the fast step writes into buffers that live with its CUDA graph
            return self.fast.losses, self.fast.wrong
        return (torch.zeros(self.steps_per_epoch, device=self.device),
                torch.zeros((), device=self.device, dtype=torch.long))

    def lr_now(self, step: int) -> float:
        return self.recipe.lr * self.factor(step)

    def payload(self, state: TrainState) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer else
            ({"fast_momentum": self.fast.momentum} if self.fast else None),
            "scheduler": self.scheduler.state_dict() if self.scheduler else None,
            "rng": rng_state(self.source.generator),
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
        set_rng_state(payload["rng"], self.source.generator)
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
        """Save and raise `Interrupted` once a stop is agreed; no rank leaves before the writer's
        checkpoint is on disk."""
        # under several ranks only the agreed answer counts: a rank that stopped on its own signal
        # would leave the others waiting in their next collective
        alone = not self.world.active and self.stop is not None and self.stop.requested
        if self.stop_agreed or alone:
            self.save(state)
            self.world.barrier()
            raise stopped(self.checkpoint, self.stop, state.step)
