"""CIFAR ResNets and plain nets of He, Zhang, Ren and Sun 2016 (Section 4.2, Table 6, Figure 6).

6n+2 layers: a 3x3 conv with 16 filters, then three stages of n blocks with 16, 32 and 64
filters (32x32, 16x16, 8x8 maps; the first block of stages 2 and 3 strides by 2), global average
pooling and a 10-way linear layer. Each block is two 3x3 convs with batch norm and ReLU.
Shortcuts are option A: the identity, and where the shape changes, the input subsampled by 2 and
zero-padded with extra channels, so shortcuts add no parameters. Plain nets are the same stacks
without shortcuts. He initialisation throughout.

Parameters: ResNet-20 0.27M, 32 0.46M, 44 0.66M, 56 0.85M, 110 1.7M, 1202 19.4M.

`bn_group`: batch normalisation over groups of that many images (`GroupBatchNorm2d`), as on the
paper's two GPUs, 64 images each of a batch of 128 (Section 4.2: "mini-batch size of 128 on two
GPUs"); 0 normalises over the whole batch.

    python -c "from landmarks.models import create_model; print(create_model('resnet20', (3, 32, 32), 10, bn_group=64))"
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


class GroupBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of each group of `group` consecutive
    images of the batch (the last group may be smaller), as each of He et al.'s two GPUs
    normalised its own 64 images: the same as a BatchNorm2d applied to each group separately.

    Assumption: the running statistics (used at evaluation) are those one GPU keeps, updated from
    the first group of each batch only; the paper does not say, and a data-parallel net of its time
    kept (and saved) the first GPU's copy. The parameters and state have BatchNorm2d's names."""

    def __init__(self, num_features: int, group: int, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        if group < 1:
            raise TypeError(f"bn_group must be a positive number of images, got {group}")
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or x.shape[0] <= self.group:
            return super().forward(x)
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        momentum = 0.1 if self.momentum is None else self.momentum  # None (a running average) is not supported
        parts = [F.batch_norm(part, self.running_mean if i == 0 else None, self.running_var if i == 0 else None,
                              self.weight, self.bias, True, momentum, self.eps)
                 for i, part in enumerate(x.split(self.group))]
        return torch.cat(parts)


def batch_norm(channels: int, group: int) -> nn.BatchNorm2d:
    return GroupBatchNorm2d(channels, group) if group else nn.BatchNorm2d(channels)


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, residual: bool, bn_group: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = batch_norm(cout, bn_group)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = batch_norm(cout, bn_group)
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
    def __init__(self, depth: int, num_classes: int = 10, residual: bool = True, in_channels: int = 3,
                 bn_group: int = 0) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise TypeError(f"depth must be 6n+2 (20, 32, 44, 56, 110, 1202), got {depth}")
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn = batch_norm(16, bn_group)
        blocks, cin = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(Block(cin, width, stride, residual, bn_group))
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
    def resnet(in_shape: tuple[int, ...], num_classes: int, bn_group: int = 0) -> CifarResNet:
        return CifarResNet(depth, num_classes, True, in_shape[0], bn_group)

    @register_model(f"plain{depth}")
    def plain(in_shape: tuple[int, ...], num_classes: int, bn_group: int = 0) -> CifarResNet:
        return CifarResNet(depth, num_classes, False, in_shape[0], bn_group)


for _depth in (20, 32, 44, 56, 110, 1202):
    _register(_depth)
