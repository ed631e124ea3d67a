"""Rosenblatt's perceptron (1958): a threshold unit trained by the perceptron learning rule.

Not trained by gradient descent: `update` applies Rosenblatt's rule to one example. With two
classes it is the classic sign unit, w <- w + t x on a mistake, t in {-1, +1}; the convergence
theorem (Novikoff 1962) is about this form. With more classes it keeps one weight vector per
class and, on a mistake, adds the input to the true class and subtracts it from the predicted one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from landmarks.models.registry import register_model


class Perceptron(nn.Module):
    def __init__(self, in_features: int, num_classes: int, bias: bool = True) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.binary = num_classes == 2
        self.linear = nn.Linear(in_features, 1 if self.binary else num_classes, bias=bias)
        nn.init.zeros_(self.linear.weight)  # the rule starts from zero weights
        if bias:
            nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.linear(x.flatten(1))
        # two scores per example so that top-k metrics work alike for every model
        return torch.cat([-s, s], dim=1) if self.binary else s

    @torch.no_grad()
    def update(self, x: torch.Tensor, y: int) -> bool:
        """Apply the perceptron rule to one example (x flat, y a class index). True on a mistake."""
        w, b = self.linear.weight, self.linear.bias
        if self.binary:
            t = 1.0 if y == 1 else -1.0
            score = float(w[0] @ x) + (float(b[0]) if b is not None else 0.0)
            if t * score > 0:
                return False
            w[0] += t * x
            if b is not None:
                b[0] += t
            return True
        scores = w @ x + (b if b is not None else 0.0)
        pred = int(torch.argmax(scores))
        if pred == y:
            return False
        w[y] += x
        w[pred] -= x
        if b is not None:
            b[y] += 1.0
            b[pred] -= 1.0
        return True


@register_model("perceptron")
def perceptron(in_shape: tuple[int, ...], num_classes: int, bias: bool = True) -> Perceptron:
    return Perceptron(math.prod(in_shape), num_classes, bias=bias)
