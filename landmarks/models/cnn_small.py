"""A small convolutional net for 8x8 digit images (scikit-learn's bundled digits)."""

from __future__ import annotations

import torch
from torch import nn

from landmarks.models.registry import register_model


class SmallCNN(nn.Module):
    def __init__(self, in_channels: int, size: int, num_classes: int, width: int = 16,
                 batchnorm: bool = False) -> None:
        super().__init__()

        # BatchNorm after each convolution when asked for; without it the layer indices (and so the
        # weights' names) stay those of the plain net
        bn = (lambda c: [nn.BatchNorm2d(c)]) if batchnorm else (lambda c: [])
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), *bn(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), *bn(2 * width), nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = 2 * width * (size // 2) ** 2
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(flat, 64), nn.ReLU(), nn.Linear(64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("cnn_small")
def cnn_small(in_shape: tuple[int, ...], num_classes: int, width: int = 16, batchnorm: bool = False) -> SmallCNN:
    channels, height, _ = in_shape
    return SmallCNN(channels, height, num_classes, width, batchnorm)
