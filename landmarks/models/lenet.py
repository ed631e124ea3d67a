"""LeNet-1, LeNet-4 and LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), in their usual modern form.

Departures from the 1998 nets, kept because they are what is run and cited today:
- C3 of LeNet-5 (and LeNet-1's second layer) connects every input map to every output map; the
  paper connects each of C3's 16 maps to a hand-picked subset of S2's 6 maps (Table I).
- Subsampling layers are plain 2x2 max (or average) pooling without the paper's trainable
  coefficient and bias per map.
- The output layer is a linear layer with softmax cross-entropy, not Euclidean RBF units with
  the paper's MAP criterion.
- Activations are ReLU by default (`activation="tanh"` gives the scaled-tanh-like original shape).
- 28x28 MNIST digits are padded by 2 to the paper's 32x32 input (LeNet-4, LeNet-5); LeNet-1 reads
  28x28 directly rather than the paper's 16x16 down-sampled digits.

Parameter counts: LeNet-5 61,706; LeNet-4 51,050; LeNet-1 3,246.
"""

from __future__ import annotations

import torch
from torch import nn

from landmarks.models.registry import register_model

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh}
POOL = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet(nn.Module):
    def __init__(self, in_channels: int, maps: tuple[int, int], hidden: tuple[int, ...], size: int,
                 pad: int, num_classes: int, activation: str = "relu", pool: str = "max") -> None:
        super().__init__()
        if activation not in ACT or pool not in POOL:
            raise TypeError(f"activation in {sorted(ACT)} and pool in {sorted(POOL)}, got {activation!r}, {pool!r}")
        act, pooling = ACT[activation], POOL[pool]
        c1, c2 = maps
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 5, padding=pad), act(), pooling(2),
            nn.Conv2d(c1, c2, 5), act(), pooling(2),
        )
        side = ((size + 2 * pad - 4) // 2 - 4) // 2
        layers: list[nn.Module] = [nn.Flatten()]
        width = c2 * side * side
        for h in hidden:
            layers += [nn.Linear(width, h), act()]
            width = h
        layers.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("lenet1")
def lenet1(in_shape: tuple[int, ...], num_classes: int, activation: str = "relu", pool: str = "avg") -> LeNet:
    return LeNet(in_shape[0], (4, 12), (), in_shape[1], 0, num_classes, activation, pool)


@register_model("lenet4")
def lenet4(in_shape: tuple[int, ...], num_classes: int, activation: str = "relu", pool: str = "max") -> LeNet:
    return LeNet(in_shape[0], (4, 16), (120,), in_shape[1], 2, num_classes, activation, pool)


@register_model("lenet5")
def lenet5(in_shape: tuple[int, ...], num_classes: int, activation: str = "relu", pool: str = "max") -> LeNet:
    return LeNet(in_shape[0], (6, 16), (120, 84), in_shape[1], 2, num_classes, activation, pool)
