"""What a `landmarks train` job is (`TrainJob`), what its runs share while it trains (`Stage`),
and what identifies one run (its checkpoint and finished result must match it)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from landmarks.catalog import Landmark
from landmarks.config import CheckpointPolicy
from landmarks.tasks import RunSpec, StageContext, Task
from landmarks.tracking import LandmarkRuns, flatten
from landmarks.train.checkpoint import FinishedRuns
from landmarks.train.distributed import SINGLE, World
from landmarks.train.recipe import EXECUTION_ONLY
from landmarks.train.signals import StopFlag


@dataclass(frozen=True)
class TrainJob:
    """What `landmarks train` asks for: one landmark under one profile, and where things go."""

    landmark: Landmark
    profile: str
    out_dir: Path
    device: torch.device = torch.device("cpu")
    data_dir: Path = Path("data")
    mirror: str = ""
    deterministic: bool = False
    checkpoints: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    only_claims: tuple[str, ...] = ()  # a subset (marked so in metrics.json)
    only_seeds: tuple[int, ...] = ()
    # this process's place under torchrun; all ranks train every run together (recipe
    # parallel: data), rank 0 alone writes
    world: World = SINGLE

    @property
    def state_dir(self) -> Path:
        """The job's working folder while it is unfinished: checkpoints, finished runs, its lock.
        `checkpoints/<profile>/<landmark>` for the usual output folder (`models/<profile>/<landmark>`);
        a run written elsewhere (`--models`) keeps its own, so neither resumes the other's runs."""
        folder = Path(self.checkpoints.dir) / self.profile / self.landmark.id
        out = os.path.normpath(self.out_dir)
        if out == os.path.normpath(Path("models") / self.profile / self.landmark.id):
            return folder
        return folder.with_name(f"{folder.name}+{hashlib.sha256(os.path.abspath(out).encode()).hexdigest()[:10]}")

    @property
    def kept_dir(self) -> Path | None:
        """Where finished runs' records stay for good (`runs/<profile>/<landmark>`), for the profiles
        train.checkpoint.keep_profiles names and the usual output folder only; else None."""
        if self.profile not in self.checkpoints.keep_profiles or self.state_dir.name != self.landmark.id:
            return None
        return Path(self.checkpoints.keep_dir) / self.profile / self.landmark.id


@dataclass
class Stage:
    """What the runs of a job share while it trains."""

    job: TrainJob
    task: Task
    ctx: StageContext
    mlflow: LandmarkRuns
    tags: dict
    data_hash: str
    finished: FinishedRuns
    stop: StopFlag | None = None


def identity(run: RunSpec, stage: Stage) -> dict:
    """What a checkpoint or a finished result must match to be taken for this run."""
    claim = run.claim
    return flatten({
        "landmark": run.landmark.id, "claim": claim.name, "model": claim.model, "seed": run.seed,
        "profile": run.profile, "model_args": dict(claim.model_args), "data_args": dict(claim.data_args),
        # fields at their defaults left out: a field added later, whose default keeps the old
        # behaviour, leaves a run begun before it resumable
        # and how the run is executed (compile, eval_every_epochs) left out too: it changes no number
        # beyond rounding
        "recipe": run.recipe.model_dump(mode="json", exclude_defaults=True, exclude=set(EXECUTION_ONLY)),
        "data_hash": stage.data_hash,
        "version.torch": stage.tags["version.torch"],
        "device": stage.tags["hardware.device"],
    })


def child_fields(run: RunSpec, stage: Stage) -> tuple[dict, dict]:
    """The params and tags of a run's MLflow child run."""
    claim = run.claim
    params = {"claim": claim.name, "model": claim.model, "seed": run.seed, "profile": run.profile,
              "recipe": run.recipe.model_dump(mode="json"), "model_args": dict(claim.model_args),
              "data_args": dict(claim.data_args)}
    tags = {"claim": claim.name, "model": claim.model, "seed": run.seed, "run_key": run.key, "data_hash": stage.data_hash,
            "dataset": run.landmark.dataset or ""}
    return params, tags
