"""Perceptron convergence (Rosenblatt 1958; Novikoff 1962).

On data separable with margin gamma inside a ball of radius R, the perceptron makes at most
(R/gamma)^2 mistakes, whatever the order of the examples. Each run generates a separable set
(size, dimension and margin from the claim's `data_args`), runs the rule until an epoch without
mistakes, and reports mistakes / bound: the claim holds when no run exceeds 1. The bound is the
tightest the sample allows: gamma is the largest margin of any separator through the origin (a
hard-margin linear SVM without bias, or the generating separator's margin if that is larger).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from landmarks.catalog import Claim, Landmark
from landmarks.models import create_model
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.steps.perceptron import perceptron_epoch
from landmarks.train.seeding import seed_everything

DEFAULTS = {"n": 200, "dim": 2, "margin": 0.1}


def separable_set(n: int, dim: int, margin: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n points uniform in the unit ball, labelled by a random unit vector w*, keeping only
    points at distance >= margin from its hyperplane. Returns x, labels in {0, 1}, w*."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=dim)
    w /= np.linalg.norm(w)
    kept: list[np.ndarray] = []
    while sum(len(k) for k in kept) < n:
        d = rng.normal(size=(4 * n, dim))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        r = rng.uniform(size=(4 * n, 1)) ** (1.0 / dim)
        pts = d * r
        kept.append(pts[np.abs(pts @ w) >= margin])
    x = np.concatenate(kept)[:n]
    return x, (x @ w > 0).astype(np.int64), w


def max_margin(x: np.ndarray, y: np.ndarray) -> float:
    """The margin of a hard-margin linear SVM through the origin: the largest gamma of the sample
    up to the solver's tolerance (a large C makes liblinear's soft margin hard)."""
    import warnings

    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a ConvergenceWarning: the margin found is still a valid one
        # random_state: liblinear visits the examples in a shuffled order; seeded, the margin (and
        # the report) is the same bytes at every run, not the same to 1e-8
        svm = LinearSVC(fit_intercept=False, loss="hinge", C=1e4, max_iter=100_000, tol=1e-8,
                        random_state=0).fit(x, y)
    w = svm.coef_[0]
    return float(np.min((2 * y - 1) * (x @ w)) / np.linalg.norm(w))


def novikoff_bound(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float]:
    """(R, gamma, (R/gamma)^2) measured on the sample, for the separator w (unit norm)."""
    radius = float(np.linalg.norm(x, axis=1).max())
    gamma = float(np.min((2 * y - 1) * (x @ w)))
    return radius, gamma, (radius / gamma) ** 2


def _inputs(lm: Landmark, claim: Claim) -> tuple[tuple[int, ...], int]:
    return (int({**DEFAULTS, **claim.data_args}["dim"]),), 2


@register_task("perceptron_convergence", inputs=_inputs)
def perceptron_convergence(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    args = {**DEFAULTS, **run.claim.data_args}
    x, y, w = separable_set(int(args["n"]), int(args["dim"]), float(args["margin"]), run.seed)
    radius, gamma, bound = novikoff_bound(x, y, w)
    gamma_star = max(gamma, max_margin(x, y))
    bound_star = (radius / gamma_star) ** 2
    generator = seed_everything(run.seed)
    # the theorem is about the homogeneous unit (no bias): the separator passes through 0
    model = create_model(run.claim.model, (int(args["dim"]),), 2, **{**run.claim.model_args, "bias": False})
    xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y)
    mistakes, history = 0, []
    for epoch in range(1, run.recipe.epochs + 1):
        made = perceptron_epoch(model, xt, yt, generator)
        mistakes += made
        history.append({"epoch": epoch, "train_loss": float(made), "train_error": 100.0 * made / len(y)})
        if made == 0:
            break
    converged = history[-1]["train_loss"] == 0
    data_hash = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    return RunResult(
        metrics={"bound_ratio": mistakes / bound_star, "converged": float(converged)},
        history=history,
        info={
            "mistakes": mistakes,
            "bound": bound_star,
            "radius": radius,
            "gamma": gamma_star,
            "gamma_generating": gamma,
            "bound_generating": bound,
            "converged": converged,
            "epochs_run": len(history),
            "data_hash": data_hash,
        },
    )
