"""Krizhevsky's cuda-convnet CIFAR-10 nets (2011-2012).

`layers18pct`: the layers-18pct.cfg net (18% test error, no augmentation): three 5x5 conv layers
of 32, 32 and 64 filters, each followed by 3x3 stride-2 pooling (max, then average, average)
and the first two by local response normalisation over 3x3 neighbourhoods, then a 10-way fully
connected layer.

`cnn4`: the four-layer convolutional net of AlexNet's Figure 1 (Krizhevsky, Sutskever and Hinton
2012), ReLU or tanh. The paper does not list its layers; this is the layers-18pct stack without
response normalisation (three conv layers and one fully connected), the same for both units, so
the ReLU/tanh comparison is like for like.
"""

from __future__ import annotations

import torch
from torch import nn

from landmarks.models.registry import register_model

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh}


class ConvNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, activation: str = "relu", lrn: bool = True) -> None:
        super().__init__()
        if activation not in ACT:
            raise TypeError(f"activation must be one of {sorted(ACT)}, got {activation!r}")
        act = ACT[activation]
        norm = (lambda: nn.LocalResponseNorm(3, alpha=5e-5 * 9, beta=0.75)) if lrn else nn.Identity
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.MaxPool2d(3, 2), act(), norm(),
            nn.Conv2d(32, 32, 5, padding=2), act(), nn.AvgPool2d(3, 2), norm(),
            nn.Conv2d(32, 64, 5, padding=2), act(), nn.AvgPool2d(3, 2),
        )
        self.fc = nn.Linear(64 * 3 * 3, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.01 if isinstance(m, nn.Linear) else 0.05)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


@register_model("layers18pct")
def layers18pct(in_shape: tuple[int, ...], num_classes: int) -> ConvNet:
    return ConvNet(in_shape[0], num_classes, "relu", lrn=True)


@register_model("cnn4")
def cnn4(in_shape: tuple[int, ...], num_classes: int, activation: str = "relu") -> ConvNet:
    return ConvNet(in_shape[0], num_classes, activation, lrn=False)
