"""The layers of LeCun, Bottou, Bengio and Haffner 1998 (Section II and Appendix A), as modules.

Every layer with weights is affine in its input, and its weights multiply the input (a bias is
added), so `landmarks.train.sdlm` can backpropagate Gauss-Newton second derivatives through it
with the layer itself, evaluated on squared weights and squared inputs. Squashing functions are
separate modules (`ScaledTanh`), as the paper's units compute a weighted sum a_i, then x_i = f(a_i).

    python -c "from landmarks.models.lenet1998_layers import ScaledTanh; import torch; print(ScaledTanh()(torch.ones(1)))"
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

# Appendix A: f(a) = A tanh(S a), A = 1.7159, S = 2/3, so that f(1) = 1 and f(-1) = -1
A, S = 1.7159, 2.0 / 3.0
# Appendix A: initial weights uniform in [-2.4 / F_i, 2.4 / F_i], F_i the fan-in of the unit.
# FAN_IN_EXPONENT: this project reads the span as 2.4 / sqrt(F_i) (docs/recipes.md): the paper's
# stated reason for dividing by the fan-in is that "the initial standard deviation of the weighted
# sums" be "in the same range for each unit", which only 1/sqrt(F_i) gives. Taken literally (1.0),
# the weighted sums shrink about sixfold per layer (LeNet-5's F6 states start at a standard
# deviation of 0.013), the first pass's curvature estimates are then near 0, every SDLM rate sits
# at eta / mu, and one-sample training diverges within ten samples.
INIT_SPAN = 2.4
FAN_IN_EXPONENT = 0.5


class ScaledTanh(nn.Module):
    """The paper's squashing function, f(a) = 1.7159 tanh(2a/3)."""

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return A * torch.tanh(S * a)


def fan_in_uniform_(weight: torch.Tensor, bias: torch.Tensor | None, fan_in: torch.Tensor | float,
                    exponent: float = FAN_IN_EXPONENT) -> None:
    """Draw `weight` (and `bias`) uniformly in +-2.4 / fan_in ** exponent. `fan_in` is one number,
    or one per output unit along the first dimension (C3's maps have 3, 4 or 6 inputs of 25 pixels
    each). Assumption: biases are drawn like the weights (the paper's units treat the bias as a
    weight from a unit held at 1; its fan-in F_i counts the inputs only)."""
    with torch.no_grad():
        for t in (weight, bias):
            if t is None:
                continue
            span = INIT_SPAN / torch.as_tensor(fan_in, dtype=t.dtype) ** exponent
            span = span.reshape(-1, *([1] * (t.dim() - 1))) if span.dim() else span
            t.copy_((torch.rand_like(t) * 2 - 1) * span)


class Subsampling(nn.Module):
    """S2 and S4 (Section II-B): "the four inputs to a unit in S2 are added, then multiplied by a
    trainable coefficient, and added to a trainable bias"; the squashing follows as its own module.
    `copies`: LeNet-4's S2 has two subsampling maps for each C1 map ("8 subsampling maps connected
    in pairs"), each with its own coefficient and bias. Fan-in 4 (the four added inputs)."""

    def __init__(self, maps: int, copies: int = 1, size: int = 2, exponent: float = FAN_IN_EXPONENT) -> None:
        super().__init__()
        self.copies, self.size = copies, size
        self.coef = nn.Parameter(torch.empty(maps * copies))
        self.bias = nn.Parameter(torch.empty(maps * copies))
        fan_in_uniform_(self.coef, self.bias, size * size, exponent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.copies > 1:
            x = x.repeat_interleave(self.copies, dim=1)
        window_sum = F.avg_pool2d(x, self.size, divisor_override=1)
        return torch.addcmul(self.bias.view(1, -1, 1, 1), window_sum, self.coef.view(1, -1, 1, 1))


class SparseConv2d(nn.Module):
    """A convolution in which output map o sees only the input maps `table[o]` (LeNet-5's C3,
    Table I). Only the connected kernels are parameters (C3: 60 kernels of 5x5 and 16 biases,
    1,516 in all); the forward pass scatters them into a full kernel with zeros elsewhere."""

    def __init__(self, in_maps: int, table: Sequence[Sequence[int]], kernel: int = 5,
                 exponent: float = FAN_IN_EXPONENT) -> None:
        super().__init__()
        pairs = [(o, i) for o, inputs in enumerate(table) for i in inputs]
        if any(not 0 <= i < in_maps for _, i in pairs) or any(len(set(t)) != len(t) for t in table):
            raise ValueError(f"each entry of the table lists distinct input maps in 0..{in_maps - 1}")
        self.in_maps, self.out_maps, self.kernel = in_maps, len(table), kernel
        self.register_buffer("out_idx", torch.tensor([o for o, _ in pairs]), persistent=False)
        self.register_buffer("in_idx", torch.tensor([i for _, i in pairs]), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(pairs), kernel, kernel))
        self.bias = nn.Parameter(torch.empty(len(table)))
        fan_in = torch.tensor([len(t) * kernel * kernel for t in table], dtype=torch.float32)
        fan_in_uniform_(self.bias, None, fan_in, exponent)
        fan_in_uniform_(self.weight, None, fan_in[self.out_idx], exponent)

    def full_weight(self) -> torch.Tensor:
        full = self.weight.new_zeros(self.out_maps, self.in_maps, self.kernel, self.kernel)
        return full.index_put((self.out_idx, self.in_idx), self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.full_weight(), self.bias)


class EuclideanRBF(nn.Module):
    """The output layer (Section II-B): y_i = sum_j (x_j - w_ij)^2 with fixed parameters w_ij (a
    buffer, not trained). It returns -y, the negative penalties, so that the largest output is the
    most likely class, as top-k error (`landmarks.metrics`) and argmax expect of logits."""

    def __init__(self, codes: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("codes", codes.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -(x.unsqueeze(1) - self.codes).pow(2).sum(dim=2)


class InputFrame(nn.Module):
    """Places the dataset's image in the paper's input field, filling with the background value.

    LeNet-5 and LeNet-4 read a 32x32 field with the 28x28 digit in its centre (`pad` 2); LeNet-1
    reads a 28x28 field with the digit "down-sampled to 16x16 pixels and centered". Assumption for
    LeNet-1: the 28x28 image (a 20x20 digit box) is resized to `resize` x `resize` pixels (22:
    the box becomes about 16x16) with antialiased bilinear interpolation, then padded back to 28.

    Why in the model and not in the data: one landmark's claims share one prepared dataset and one
    `normalize` (the MLPs and the linear classifier read the 28x28 image), distortions act on the
    28x28 digit before it is framed, and the CUDA fast path keeps indexing the dataset's uint8
    images. The price: `background` must be what a blank pixel becomes under the recipe's
    `normalize` (-0.1 under `normalize: lecun`)."""

    def __init__(self, pad: int, resize: int = 0, background: float = -0.1) -> None:
        super().__init__()
        self.pad, self.resize, self.background = pad, resize, background

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize:
            x = F.interpolate(x, size=(self.resize, self.resize), mode="bilinear", antialias=True, align_corners=False)
        return F.pad(x, (self.pad,) * 4, value=self.background) if self.pad else x
