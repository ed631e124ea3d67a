"""The linear classifier of LeCun et al. 1998 (Fig. 9, "linear classifier, 1-layer NN"): each
output is a weighted sum of the pixels plus a bias, trained by gradient descent."""

from __future__ import annotations

import math

from torch import nn

from landmarks.models.registry import register_model


@register_model("linear")
def linear(in_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), num_classes))
