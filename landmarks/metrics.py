"""Metrics: top-k error, and the registry of metric names the catalog may use."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch

from landmarks.registry import Registry


@dataclass(frozen=True)
class MetricInfo:
    name: str
    lower_is_better: bool
    unit: str  # how values are written in tables: "%" for percentages, "" for plain numbers
    description: str
    # continuous: a t-interval over seeds; binary: each run is 0 or 1, the mean is a share of
    # runs, and its interval is Clopper-Pearson's (exact binomial)
    kind: Literal["continuous", "binary"] = "continuous"
    bounds: tuple[float, float] = (-math.inf, math.inf)  # no interval reaches outside these
    # a percentage of the test set's images: the tolerance rule's binomial floor applies
    test_set_share: bool = False
    # a run may end without a value (it never reached the threshold): it is censored, counted
    # beside the runs that have one, never given a made-up number
    censored: bool = False


METRICS: Registry[MetricInfo] = Registry("metric")


def _metric(name: str, lower_is_better: bool, unit: str, description: str, **info: Any) -> None:
    METRICS.register(name)(MetricInfo(name, lower_is_better, unit, description, **info))


_metric("top1_error", True, "%", "test error in percent (top-1)", bounds=(0.0, 100.0), test_set_share=True)
_metric("top5_error", True, "%", "test error in percent (top-5)", bounds=(0.0, 100.0), test_set_share=True)
_metric("train_error", True, "%", "training error in percent over the last epoch", bounds=(0.0, 100.0))
_metric("accuracy", False, "", "fraction of examples classified correctly", bounds=(0.0, 1.0))
_metric("solved", False, "", "1 if the run classified every training example correctly, else 0", kind="binary",
        bounds=(0.0, 1.0))
_metric("bound_ratio", True, "", "perceptron mistakes divided by the (R/gamma)^2 bound", bounds=(0.0, math.inf))
_metric("converged", False, "", "1 if the perceptron rule finished an epoch without mistakes, else 0", kind="binary",
        bounds=(0.0, 1.0))
_metric("score", False, "", "mean game score over the evaluation games (DQN: epsilon 0.05, up to 5 minutes each)")
_metric("epochs_to_threshold", True, "", "epochs (a fraction of one, read off the training-error curve) until the "
        "training error first reaches a threshold", bounds=(1.0, math.inf), censored=True)


@torch.no_grad()
def topk_correct(logits: torch.Tensor, targets: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, int]:
    """Number of examples whose target is among the k highest scores, for each k.

    Ties are broken against the model: a target tied with the k-th score counts as correct only
    if it wins the tie under a stable sort by class index, so a constant output (all scores
    equal) is right for exactly the first k classes, never for all of them. A k larger than the
    number of classes counts every example as correct.
    """
    n_classes = logits.shape[1]
    # stable descending sort: among equal scores, the lower class index ranks first
    order = torch.sort(logits, dim=1, descending=True, stable=True).indices
    hits = order == targets.view(-1, 1)
    out = {}
    for k in ks:
        kk = min(k, n_classes)
        out[k] = int(hits[:, :kk].any(dim=1).sum().item())
    return out


def error_percent(correct: dict[int, int], n: int) -> dict[str, float]:
    """{k: examples right within the top k} out of n -> {"top{k}_error": error in percent}."""
    n = max(n, 1)
    return {f"top{k}_error": 100.0 * (n - c) / n for k, c in correct.items()}


def chance_error(num_classes: int) -> float:
    """Top-1 error in percent of a classifier that always answers the same class, on balanced data."""
    return 100.0 * (1.0 - 1.0 / num_classes)


def at_chance(error: float, num_classes: int, margin: float = 0.05) -> bool:
    """Whether a top-1 error in percent is no better than guessing one class.

    A run that ends here did not learn (typically dead ReLUs after a too-large first step); its
    number is kept, but said aloud, since a mean over seeds silently absorbs it otherwise.
    `margin` is relative: for 10 classes anything at or above 85.5% counts.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}")
    return error >= (1.0 - margin) * chance_error(num_classes)
