"""Multi-layer perceptrons: the 1986 backpropagation nets and the MNIST MLPs after them."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from landmarks.models.registry import register_model

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLP(nn.Module):
    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        activation: str = "relu",
        dropout: float = 0.0,
        input_dropout: float = 0.0,
        init_std: float = 0.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise TypeError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        layers: list[nn.Module] = [nn.Flatten()]
        if input_dropout:
            layers.append(nn.Dropout(input_dropout))
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_features))
        self.net = nn.Sequential(*layers)
        if init_std:
            # Simard et al. 2003: every weight drawn with standard deviation 0.05, biases at zero
            for m in self.net:
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, std=init_std)
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_model("mlp")
def mlp(
    in_shape: tuple[int, ...],
    num_classes: int,
    hidden: Sequence[int] = (100,),
    activation: str = "relu",
    dropout: float = 0.0,
    input_dropout: float = 0.0,
    single_output: bool = False,
    init_std: float = 0.0,
) -> MLP:
    """`single_output`: one output unit for two classes (the 2-2-1 XOR net of 1986).
    `init_std`: draw weights from N(0, init_std^2) and zero the biases; 0 keeps PyTorch's default."""
    out = 1 if single_output else num_classes
    return MLP(math.prod(in_shape), list(hidden), out, activation, dropout, input_dropout, init_std)
