"""What a run carries from step to step (`TrainState`, saved in every checkpoint), one batch as a
step sees it (`Batch`), and what a finished run returns (`FitResult`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch


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
    points: list = field(default_factory=list)  # the mid-epoch points of recipe.eval_every_steps
    best_val: float = math.inf
    stale: int = 0
    selected_epoch: int = 0
    done: bool = False
    first_bad_batch: int = -1  # the batch of the current epoch whose loss was first NaN or infinite


@dataclass(frozen=True)
class Batch:
    """One global batch: its place in the epoch, its size over all ranks, the training indices it
    holds where the data is resident on the device (the CUDA graph step gathers them itself), and
    `load()`, which gives this rank's (input, labels) on the device, augmented."""

    index: int
    size: int
    idx: torch.Tensor | None
    load: Callable[[], tuple[torch.Tensor, torch.Tensor]]


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch
    points: list[dict] = field(default_factory=list)  # mid-epoch points (recipe.eval_every_steps)
    selected_epoch: int = 0
    test: dict = field(default_factory=dict)  # top1_error, top5_error of the selected model
    steps: int = 0
    seconds: float = 0.0
