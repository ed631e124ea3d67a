"""A claim's training step, timed on this machine at its recipe, and the cache of such timings.

The step is the engine's own (`Trainer.on_device`: the claim's model, batch size, optimizer,
precision, augmentation, loss) on synthetic images of the dataset's shape held on the device, so
it costs what a real run's step costs; the evaluation after each epoch is timed as a forward pass
per image. Timings are cached per machine (CPU or GPU name, threads, torch version), in
`$XDG_CACHE_HOME/landmarks/step-times.json` (~/.cache/... by default): `landmarks plan` times each
(model, recipe) once and reads the cache after that (`--retime` to time again).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from landmarks.bench.timing import sync
from landmarks.catalog import Claim
from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits, arrays_hash
from landmarks.files import write_atomic
from landmarks.models import create_model
from landmarks.provenance import cpu_name
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

EVAL_IMAGES = 512  # images of the timed evaluation pass
MIN_SECONDS = 2.0  # of timed steps, however short each is


@dataclass(frozen=True)
class StepTime:
    ms_per_step: float  # one optimizer step at the recipe's batch size
    ms_per_eval_image: float  # the forward pass of evaluation, per image
    ms_per_epoch_extra: float = 0.0  # once per pass: SDLM's curvature estimate


def cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "landmarks" / "step-times.json"


def machine_key(device: torch.device) -> str:
    """What a timing belongs to: the device, the threads it may use, the torch version."""
    what = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{cpu_name()}, {torch.get_num_threads()} threads"
    return f"{what} | torch {torch.__version__}"


def step_key(claim: Claim, recipe: Recipe, shape: tuple[int, ...], task: str = "classify") -> str:
    """The fields that set a step's cost (not the seed, the rate or the number of epochs)."""
    fields = {"model": claim.model, "model_args": dict(claim.model_args), "shape": list(shape),
              "batch": recipe.batch_size, "precision": recipe.precision, "optimizer": recipe.optimizer,
              "loss": recipe.loss, "augment": list(recipe.augment), "channels_last": recipe.channels_last,
              "compile": recipe.compile, "normalize": recipe.normalize}
    if task == "dqn":  # an agent step: the game, the minibatch and how often it learns
        fields = {**fields, "task": task, "game": claim.data_args.get("game"), "batch": recipe.dqn.batch,
                  "update_every": recipe.dqn.update_every, "history": recipe.dqn.history}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()[:16]


class TimingCache:
    """{machine: {step key: StepTime}} in one JSON file; a damaged file is set aside and rebuilt."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_path()
        try:
            self.data = json.loads(self.path.read_text(encoding="utf-8")) if self.path.exists() else {}
        except (OSError, ValueError):
            self.data = {}  # a cache: timing again is the whole cost of losing it
        if not isinstance(self.data, dict):
            self.data = {}

    def get(self, machine: str, key: str) -> StepTime | None:
        found = self.data.get(machine, {}).get(key)
        return StepTime(**found) if isinstance(found, dict) else None

    def put(self, machine: str, key: str, timing: StepTime) -> None:
        self.data.setdefault(machine, {})[key] = asdict(timing)
        write_atomic(self.path, json.dumps(self.data, indent=1, sort_keys=True) + "\n")


def _synthetic(shape: tuple[int, int, int], n: int, num_classes: int) -> Splits:
    c, h, w = shape
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, h, w, c)).astype(np.uint8)
    y = rng.integers(0, num_classes, n).astype(np.int64)
    return Splits("synthetic", x, y, x[:EVAL_IMAGES], y[:EVAL_IMAGES], num_classes, 255, arrays_hash(x[:1]))


def time_step(claim: Claim, recipe: Recipe, shape: tuple[int, int, int], num_classes: int, device: torch.device,
              steps: int = 20, warmup: int = 3, ready: Callable[[], None] | None = None) -> StepTime:
    """The mean of `steps` timed steps after `warmup` (the first one includes a pass's curvature
    estimate where the recipe has one), and an evaluation pass over EVAL_IMAGES images. The mean,
    not the median: a run's time is the sum of its steps, the slow ones included. `ready` is called
    between the warm-up and the timed steps (processes timed side by side meet there)."""
    batch = recipe.batch_size
    n = max(batch * (steps + warmup), EVAL_IMAGES, 600)
    recipe = recipe.model_copy(update={"val_fraction": 0.0, "lr_search": None, "max_steps": 0, "epochs": 1})
    data = to_device(_synthetic(shape, n, num_classes), 0.0, recipe.normalize, device)
    gen = seed_everything(0)
    model = create_model(claim.model, data.in_shape, num_classes, **claim.model_args).to(device)
    trainer = Trainer.on_device(model, data, recipe, gen)
    model.train()
    losses, wrong = trainer.buffers()
    order = torch.arange(n, device=device)
    per_epoch, per_pass, times = n // batch, 0.0, []
    ready = ready or (lambda: None)
    i = 0
    # at least `steps` steps and MIN_SECONDS of them: short steps are timed over many, so that a
    # moment of other work on the machine weighs little
    while i < warmup or len(times) < steps or (sum(times) < MIN_SECONDS and len(times) < 100 * steps):
        b = i % per_epoch
        if i == warmup:
            ready()
        sync(device)
        t0 = time.perf_counter()
        trainer.step(trainer.source.batch(order[b * batch:(b + 1) * batch], b), i, losses, wrong)
        sync(device)
        if i >= warmup and b:
            times.append(time.perf_counter() - t0)
        i += 1
    ms = 1000.0 * float(np.mean(times))
    if recipe.optimizer == "sdlm":  # step 0 of a pass estimates the curvature first; timed warm
        # (the very first step also compiles, under recipe.compile, which a pass does not repeat)
        sync(device)
        t0 = time.perf_counter()
        trainer.step(trainer.source.batch(order[:batch], 0), i, losses, wrong)
        sync(device)
        per_pass = time.perf_counter() - t0
    sync(device)
    t0 = time.perf_counter()
    trainer.source.evaluate(model, "test")
    sync(device)
    eval_ms = 1000.0 * (time.perf_counter() - t0) / EVAL_IMAGES
    return StepTime(ms, eval_ms, max(0.0, 1000.0 * per_pass - ms))
