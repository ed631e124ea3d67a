"""Task registry: how a landmark's claims are run and measured.

A task takes one claim, its resolved recipe and a seed, and returns the claim's metric for that
run (plus history and details). `classify` trains on a dataset and reports test error; the
classic perceptron and XOR landmarks have tasks of their own, and `estimator` fits the
scikit-learn baselines some papers compare against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from landmarks.registry import Registry


@dataclass
class RunContext:
    device: torch.device
    data_dir: Path = Path("data")
    mirror: str = ""  # params.yaml's data.mirror (LANDMARKS_DATA_MIRROR wins)
    verbose: bool = False
    cache: dict[str, Any] = field(default_factory=dict)  # prepared data, shared by the runs of a stage
    # set by the runner for each run: where to checkpoint, what to resume, when to stop, and a
    # hook for each finished epoch (live tracking); tasks that train in epochs pass them to fit
    checkpoint: Any = None
    resume: dict | None = None
    stop: Any = None
    on_epoch: Callable[[dict], None] | None = None


@dataclass
class RunResult:
    metrics: dict[str, float]  # the values claims are checked on
    history: list[dict] = field(default_factory=list)  # one row per epoch
    info: dict[str, Any] = field(default_factory=dict)  # parameters, data hash, selected epoch...
    model: Any = None  # the trained torch module, when there is one worth keeping


TASKS: Registry[Callable[..., RunResult]] = Registry("task")


def register_task(name: str) -> Callable[[Callable[..., RunResult]], Callable[..., RunResult]]:
    return TASKS.register(name)


from landmarks.tasks import classify, convergence, estimator, xor  # noqa: E402,F401  (registers)
