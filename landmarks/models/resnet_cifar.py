"""CIFAR ResNets and plain nets of He, Zhang, Ren and Sun 2016 (Section 4.2, Table 6, Figure 6).

6n+2 layers: a 3x3 conv with 16 filters, then three stages of n blocks with 16, 32 and 64
filters (32x32, 16x16, 8x8 maps; the first block of stages 2 and 3 strides by 2), global average
pooling and a 10-way linear layer. Each block is two 3x3 convs with batch norm and ReLU.
Shortcuts are option A: the identity, and where the shape changes, the input subsampled by 2 and
zero-padded with extra channels, so shortcuts add no parameters. Plain nets are the same stacks
without shortcuts. He initialisation throughout.

Parameters: ResNet-20 0.27M, 32 0.46M, 44 0.66M, 56 0.85M, 110 1.7M, 1202 19.4M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.models.registry import register_model


class _GradInInputLayout(torch.autograd.Function):
    """The identity, whose gradient comes back in its input's memory layout.

    The gradients of the option-A shortcut (a strided slice) and of global average pooling are
    fresh NCHW tensors. In a channels_last net they then meet channels_last gradients in an add and
    a ReLU backward, which with mixed layouts run 5 to 30 times slower on a CPU: timed in turns over
    11 rounds on two cores, a ResNet-20 bf16 step took 142.8 ms with them and 134.5 ms without
    (every round 3 to 10% faster). One layout change costs far less.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.channels_last = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous(memory_format=torch.channels_last) if ctx.channels_last else grad


def grad_in_input_layout(x: torch.Tensor) -> torch.Tensor:
    return _GradInInputLayout.apply(x)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.residual = residual
        self.pad = cout - cin  # option A: zero channels appended to the subsampled input
        self.stride = stride

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1 or self.pad:
            x = grad_in_input_layout(x)
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int = 10, residual: bool = True, in_channels: int = 3) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise TypeError(f"depth must be 6n+2 (20, 32, 44, 56, 110, 1202), got {depth}")
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(cin, width, stride, residual))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out" if isinstance(m, nn.Conv2d) else "fan_in", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))
        x = grad_in_input_layout(self.blocks(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _register(depth: int) -> None:
    @register_model(f"resnet{depth}")
    def resnet(in_shape: tuple[int, ...], num_classes: int) -> CifarResNet:
        return CifarResNet(depth, num_classes, True, in_shape[0])

    @register_model(f"plain{depth}")
    def plain(in_shape: tuple[int, ...], num_classes: int) -> CifarResNet:
        return CifarResNet(depth, num_classes, False, in_shape[0])


for _depth in (20, 32, 44, 56, 110, 1202):
    _register(_depth)
