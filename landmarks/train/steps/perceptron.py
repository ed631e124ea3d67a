"""Rosenblatt's rule: the one place it is applied to a stream of examples.

`PerceptronStep` is the loop's step for perceptron claims on a dataset (example by example, in the
batch's order, so an epoch applies the rule once to every example of the epoch's permutation); the
XOR and convergence tasks run whole epochs with `perceptron_epoch`. The rule for one example is
`Perceptron.update`.
"""

from __future__ import annotations

import torch

from landmarks.models.perceptron import Perceptron
from landmarks.train.state import Batch


def perceptron_mistakes(model: Perceptron, x: torch.Tensor, y: torch.Tensor, order: list[int]) -> int:
    """The rule applied to (x[i], y[i]) for i in `order`; the number of mistakes it corrected."""
    xs, ys = x.flatten(1).cpu(), y.cpu().tolist()
    return sum(model.update(xs[i], ys[i]) for i in order)


def perceptron_epoch(model: Perceptron, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> int:
    """One pass over (x, y) in an order drawn from `generator`; returns the number of mistakes."""
    return perceptron_mistakes(model, x, y, torch.randperm(len(y), generator=generator).tolist())


class PerceptronStep:
    """The rule over one batch's examples; the batch's "loss" is its number of mistakes."""

    def __init__(self, model: Perceptron) -> None:
        self.model = model

    def __call__(self, batch: Batch, lr_step: int, losses: torch.Tensor, wrong: torch.Tensor) -> None:
        x, y = batch.load()
        mistakes = perceptron_mistakes(self.model, x, y, list(range(len(y))))
        losses[batch.index] = mistakes
        wrong += mistakes
