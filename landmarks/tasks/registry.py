"""The task registry: how a landmark's claims are run and measured.

A task takes one run (`RunSpec`: landmark, claim, resolved recipe, seed, profile), what the runs
of a stage share (`StageContext`: device, data, a cache) and the run's controls (`RunControl`:
checkpoint, resume, stop, a hook per epoch), and returns the claim's metric for that run (plus
history and details). A task also says what its claims name (torch models or scikit-learn
estimators) and, for generated data, the input shape its models are built for, so the catalog
check can build every claim's model before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

import torch

from landmarks.catalog import Claim, Landmark
from landmarks.data.image_index import ImageIndex
from landmarks.data.prepare import ensure_prepared, load_images
from landmarks.data.registry import DATASETS, Splits
from landmarks.registry import Registry
from landmarks.train.checkpoint import Checkpointer
from landmarks.train.distributed import SINGLE, World
from landmarks.train.recipe import Recipe
from landmarks.train.signals import StopFlag


@dataclass(frozen=True)
class RunSpec:
    """One (claim, seed) run of a landmark under a profile."""

    landmark: Landmark
    claim: Claim
    recipe: Recipe  # resolved: the landmark's, the claim's and the profile's overrides
    seed: int
    profile: str

    @property
    def key(self) -> str:
        """A file-safe name, unique within the landmark (the loader checks): 'mlp_64x100-seed0'."""
        return f"{self.claim.file_name}-seed{self.seed}"


@dataclass
class StageContext:
    """What the runs of one stage (one landmark under one profile) share."""

    device: torch.device
    data_dir: Path = Path("data")
    mirror: str = ""  # params.yaml's data.mirror (LANDMARKS_DATA_MIRROR wins)
    # the stage's working folder while it is unfinished (its checkpoints); None: keep nothing
    state_dir: Path | None = None
    cache: dict[str, Any] = field(default_factory=dict)  # prepared data and its device copies
    world: World = SINGLE  # the processes of a torchrun job (data-parallel runs use them all)

    def splits(self, dataset: str) -> Splits:
        """The prepared dataset, read once per stage."""
        key = f"splits:{dataset}"
        if key not in self.cache:
            self.cache[key] = ensure_prepared(dataset, self.data_dir, self.mirror)
        return self.cache[key]

    def images(self, dataset: str) -> ImageIndex:
        """The prepared index of an image-folder dataset (ImageNet), checked once per stage."""
        key = f"images:{dataset}"
        if key not in self.cache:
            # one rank checks the images against the index; the others read the index alone (eight
            # ranks each stating 1.3 million files would load a shared file system for nothing)
            self.cache[key] = load_images(dataset, self.data_dir, check=self.world.writer)
        return self.cache[key]

    def run_world(self, recipe: Recipe) -> World:
        """The processes one run trains on: all of the job's with `parallel: data`, else this one
        alone (with "runs", the other ranks train other runs)."""
        return self.world if recipe.parallel == "data" else SINGLE

    def data_hash(self, dataset: str) -> str:
        """The content hash of the dataset as prepared: arrays, or an image-folder index."""
        folders = DATASETS.get(dataset).decode is None
        return (self.images(dataset) if folders else self.splits(dataset)).content_hash


@dataclass(frozen=True)
class RunControl:
    """Set by the runner for each run; tasks that train in epochs pass them to `fit`."""

    checkpoint: Checkpointer | None = None  # where and when to checkpoint
    resume: dict | None = None  # the checkpoint to continue from
    stop: StopFlag | None = None  # set by SIGINT / SIGTERM
    on_epoch: Callable[[dict], None] | None = None  # live tracking and progress lines


@dataclass
class RunResult:
    metrics: dict[str, float]  # the values claims are checked on
    history: list[dict] = field(default_factory=list)  # one row per epoch
    info: dict[str, Any] = field(default_factory=dict)  # parameters, data hash, selected epoch...
    model: Any = None  # the trained torch module, when there is one worth keeping


TaskFn = Callable[[RunSpec, StageContext, RunControl], RunResult]
# (landmark, claim) -> (input shape, number of classes) of the model, for tasks on generated data
InputsFn = Callable[[Landmark, Claim], tuple[tuple[int, ...], int]]


# a resolved recipe -> (field, what is wrong) when the task cannot honour it, else None
RecipeCheck = Callable[[Recipe], "tuple[str, str] | None"]


@dataclass(frozen=True)
class Task:
    run: TaskFn
    models: Literal["model", "estimator"] = "model"  # which registry the claims' `model` names
    inputs: InputsFn | None = None  # None: the landmark's dataset says the shape
    check_recipe: RecipeCheck | None = None  # fields a task would otherwise ignore silently
    # the run's budget in the steps its rows count, where it is not the recipe's max_steps (a DQN
    # agent's steps): progress lines pace the time left by it
    budget: Callable[[Recipe], int] | None = None

    def steps_budget(self, recipe: Recipe) -> int | None:
        return self.budget(recipe) if self.budget else recipe.max_steps or None  # 0: no step budget


TASKS: Registry[Task] = Registry("task")


def register_task(name: str, models: Literal["model", "estimator"] = "model", inputs: InputsFn | None = None,
                  check_recipe: RecipeCheck | None = None,
                  budget: Callable[[Recipe], int] | None = None) -> Callable[[TaskFn], TaskFn]:
    def deco(fn: TaskFn) -> TaskFn:
        TASKS.register(name)(Task(fn, models, inputs, check_recipe, budget))
        return fn

    return deco
