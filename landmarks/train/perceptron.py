"""Rosenblatt's rule over a training set: the one place an epoch of it is written.

The engine (perceptron claims on a dataset), the XOR task and the convergence task all train a
perceptron this way; the rule for a single example is `Perceptron.update`.
"""

from __future__ import annotations

import torch

from landmarks.models.perceptron import Perceptron


def perceptron_epoch(model: Perceptron, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> int:
    """One pass over (x, y) in an order drawn from `generator`; returns the number of mistakes."""
    order = torch.randperm(len(y), generator=generator).tolist()
    xs, ys = x.flatten(1).cpu(), y.cpu().tolist()
    return sum(model.update(xs[i], ys[i]) for i in order)
