"""Krizhevsky's cuda-convnet CIFAR-10 nets (2011-2012).

`layers18pct`: the layers-18pct.cfg net (18% test error, no augmentation): three 5x5 conv layers
of 32, 32 and 64 filters, each followed by 3x3 stride-2 pooling (max, then average, average)
and the first two by cuda-convnet's `rnorm` response normalisation (same map, 3x3
neighbourhoods), then a 10-way fully connected layer; weights drawn as the cfg draws them.
Pooling as cuda-convnet computes it (`CudaConvnetPool`): maps of 16, 8 and 4 pixels, fc10 on
4 x 4 x 64 inputs, 89,578 parameters, the count of the cfg.

`cnn4`: the four-layer convolutional net of AlexNet's Figure 1 (Krizhevsky, Sutskever and Hinton
2012), ReLU or tanh. The paper does not list its layers; this is the layers-18pct stack without
response normalisation (three conv layers and one fully connected), the same for both units, so
the ReLU/tanh comparison is like for like; its pooling is cuda-convnet's too, the code the paper ran.

`pool: floor` keeps the form these nets had before (PyTorch's pooling, which rounds the map size
down: 15, 7 and 3 pixels, fc10 on 576 inputs, 85,098 parameters in layers18pct).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.models.registry import register_model

ACT = {"relu": nn.ReLU, "tanh": nn.Tanh}
# layer-params-18pct.cfg: [rnorm1] and [rnorm2] have size=3, scale=0.00005, pow=.75
RNORM_SIZE, RNORM_SCALE, RNORM_POW = 3, 5e-5, 0.75


class SameMapResponseNorm(nn.Module):
    """cuda-convnet's `rnorm`: each activation divided by (1 + scale/size^2 * sum of the squares
    over its size x size neighbourhood in the same map)^pow. (`nn.LocalResponseNorm` normalises
    across neighbouring maps instead, AlexNet's 2012 form.)"""

    def __init__(self, size: int = RNORM_SIZE, scale: float = RNORM_SCALE, power: float = RNORM_POW) -> None:
        super().__init__()
        self.size, self.scale, self.power = size, scale, power

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the mean over the window (zero beyond the border) is the sum / size^2
        mean_sq = F.avg_pool2d(x * x, self.size, stride=1, padding=self.size // 2, count_include_pad=True)
        return x / (1.0 + self.scale * mean_sq).pow(self.power)


class CudaConvnetPool(nn.Module):
    """cuda-convnet's pooling layer (layer.py, PoolLayerParser; conv_util.cuh, kLocalPool) with
    start=0: outputsX = ceil((imgSize - sizeX) / stride) + 1 windows per side, starting at 0,
    stride, 2 stride, ...; the last ones run past the image and are clipped to it. "max" takes
    the largest value inside the image; "avg" sums the pixels inside and divides by sizeX^2 (the
    cuda-convnet of 2011-2012, AvgPooler(sizeX * sizeX)), however many of them fell inside.
    PyTorch's ceil_mode gives the same windows; divisor_override gives the fixed divisor."""

    def __init__(self, kind: str, size: int = 3, stride: int = 2) -> None:
        super().__init__()
        self.kind, self.size, self.stride = kind, size, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            return F.max_pool2d(x, self.size, self.stride, ceil_mode=True)
        return F.avg_pool2d(x, self.size, self.stride, ceil_mode=True, divisor_override=self.size * self.size)


POOLS = {
    "cuda_convnet": (lambda: CudaConvnetPool("max"), lambda: CudaConvnetPool("avg"), math.ceil),
    "floor": (lambda: nn.MaxPool2d(3, 2), lambda: nn.AvgPool2d(3, 2), math.floor),
}


class ConvNet(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, activation: str = "relu",
                 norm: str = "none", init_stds: tuple[float, float, float, float] = (0.05, 0.05, 0.05, 0.01),
                 pool: str = "cuda_convnet", side: int = 32) -> None:
        super().__init__()
        if activation not in ACT:
            raise TypeError(f"activation must be one of {sorted(ACT)}, got {activation!r}")
        if norm not in NORMS or pool not in POOLS:
            raise TypeError(f"norm in {sorted(NORMS)} and pool in {sorted(POOLS)}, got {norm!r}, {pool!r}")
        act, norm_layer = ACT[activation], NORMS[norm]
        max_pool, avg_pool, rounding = POOLS[pool]
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), max_pool(), act(), norm_layer(),
            nn.Conv2d(32, 32, 5, padding=2), act(), avg_pool(), norm_layer(),
            nn.Conv2d(32, 64, 5, padding=2), act(), avg_pool(),
        )
        for _ in range(3):  # the 5x5 convs keep the size (padding 2); each pooling: 3x3 windows, stride 2
            side = int(rounding((side - 3) / 2)) + 1
        self.fc = nn.Linear(64 * side * side, num_classes)
        layers = [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        for m, std in zip(layers, init_stds, strict=True):
            nn.init.normal_(m.weight, std=std)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


NORMS = {
    "same_map": SameMapResponseNorm,
    # the form this net had before it followed the cfg: across 3 neighbouring maps, alpha = scale * 9
    "cross_channel": lambda: nn.LocalResponseNorm(RNORM_SIZE, alpha=RNORM_SCALE * RNORM_SIZE**2, beta=RNORM_POW),
    "none": nn.Identity,
}


@register_model("layers18pct")
def layers18pct(in_shape: tuple[int, ...], num_classes: int, norm: str = "same_map",
                init_stds: tuple[float, float, float, float] = (1e-4, 1e-2, 1e-2, 1e-2),
                pool: str = "cuda_convnet") -> ConvNet:
    """`init_stds`: conv1, conv2, conv3, fc10 (layers-18pct.cfg: initW 0.0001, then 0.01)."""
    return ConvNet(in_shape[0], num_classes, "relu", norm, tuple(init_stds), pool, in_shape[-1])


@register_model("cnn4")
def cnn4(in_shape: tuple[int, ...], num_classes: int, activation: str = "relu", pool: str = "cuda_convnet",
         init_stds: tuple[float, float, float, float] = (0.05, 0.05, 0.05, 0.01)) -> ConvNet:
    """The layers-18pct stack without response normalisation; `init_stds` as layers18pct's (its
    default suits inputs standardised to unit scale; the cfg's 1e-4 and 1e-2 suit raw 0..255
    pixels less the mean image)."""
    return ConvNet(in_shape[0], num_classes, activation, norm="none", init_stds=tuple(init_stds), pool=pool,
                   side=in_shape[-1])
