"""LeCun, Bottou, Bengio and Haffner 1998 as published: LeNet-5, LeNet-4, LeNet-1 and the linear
and multilayer classifiers of Fig. 9, with the paper's units, initialisation and output layer.

What the paper states, and is built here:
- Units compute a weighted sum plus bias, then f(a) = 1.7159 tanh(2a/3) (Section II-A, Appendix A);
  initial weights uniform in +-2.4 / F_i, F_i the unit's fan-in (Appendix A), read here as
  +-2.4 / sqrt(F_i), the form that meets the paper's stated aim (`fan_in_exponent`, see
  `lenet1998_layers.FAN_IN_EXPONENT` and docs/recipes.md).
- LeNet-5 (Section II-B): 32x32 input (the 28x28 digit centred); C1 6 maps 5x5; S2 2x2 sums times
  a trainable coefficient plus a trainable bias, squashed; C3 16 maps 5x5 on the subsets of S2
  of Table I; S4 as S2; C5 120 maps 5x5 on all of S4; F6 84 units; ten Euclidean RBF outputs with
  fixed +-1 parameters (7x12 bitmaps, `lenet1998_codes.py`). 60,000 trainable parameters.
- LeNet-4 (Section III-C): 32x32 input; 4 first-layer maps; 8 subsampling maps "connected in
  pairs" to them; 16 maps; 16 subsampling maps; 120 fully connected units; 10 outputs; "about
  260,000 connections" and "about 17,000 free parameters".
- LeNet-1 (Section III-C): the digit down-sampled to 16x16 and centred in a 28x28 input; 4 maps
  5x5, subsampling, 12 maps 5x5, subsampling, 10 outputs; "about 2600 free parameters".

Assumptions where the paper is silent (also in docs/recipes.md):
- LeNet-4's C3 table is not given. Its connection count fixes about 48 of the 128 possible 5x5
  kernels (with 48: 262,306 connections); here each of the 16 maps reads 3 of the 8 subsampling
  maps, from two different first-layer maps (`LENET4_C3`). The stated layers then have 50,698
  parameters, 48,120 of them in the 120 fully connected units alone, so "about 17,000" cannot be
  met by the architecture as described; the description is followed, not the count.
- LeNet-1's second conv layer: 20 of the 48 possible kernels (`LENET1_C3`), which gives 2,578
  parameters and 98,442 connections, the counts LeCun et al.'s 1995 comparison paper gives for
  LeNet-1 (as recalled here, not checked against that paper); which 20 is a choice.
- LeNet-1, LeNet-4 and the MLPs end in ten squashed units (targets +-1, Appendix A's reason for
  f(+-1) = +-1); the linear classifier's outputs are plain weighted sums, as Section III-C says.
- The MLPs use the same units and initialisation as the convolutional nets (Appendix A speaks of
  "our convolutional networks"; nothing else is said of the MLPs' units).

    python -c "from landmarks.models import create_model as c; print(c('lenet5-1998', (1, 28, 28), 10))"
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

from torch import nn

from landmarks.models.lenet1998_codes import rbf_codes
from landmarks.models.lenet1998_layers import (
    FAN_IN_EXPONENT, EuclideanRBF, InputFrame, ScaledTanh, SparseConv2d, Subsampling, fan_in_uniform_,
)
from landmarks.models.registry import register_model

# Table I: the S2 maps each C3 map reads. Maps 0-5: three contiguous maps; 6-11: four contiguous;
# 12-14: four non-contiguous; 15: all six.
LENET5_C3 = ((0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
             (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
             (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5), (0, 1, 2, 3, 4, 5))
# assumption (see above): 8 maps read one first-layer map each (two apiece), 4 read three
LENET1_C3 = ((0,), (1,), (2,), (3,), (0,), (1,), (2,), (3,), (0, 1, 2), (1, 2, 3), (2, 3, 0), (3, 0, 1))
# assumption (see above): S2 maps 2k and 2k+1 come from C1 map k; every C3 map mixes two C1 maps
LENET4_C3 = (tuple((i, (i + 1) % 8, (i + 3) % 8) for i in range(8))
             + tuple((i, (i + 2) % 8, (i + 5) % 8) for i in range(8)))


def _conv(cin: int, cout: int, e: float, k: int = 5) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, k)
    fan_in_uniform_(conv.weight, conv.bias, cin * k * k, e)
    return conv


def _linear(cin: int, cout: int, e: float) -> nn.Linear:
    fc = nn.Linear(cin, cout)
    fan_in_uniform_(fc.weight, fc.bias, cin, e)
    return fc


def _frame(in_shape: tuple[int, ...], field: int, background: float, resize: int = 0) -> InputFrame:
    side = resize or in_shape[-1]
    if len(in_shape) != 3 or in_shape[0] != 1 or in_shape[1] != in_shape[2] or (field - side) % 2 or side > field:
        raise TypeError(f"expects one-channel square images that fit its {field}x{field} input field "
                        f"with even margins (MNIST: (1, 28, 28)), got {tuple(in_shape)}")
    return InputFrame((field - side) // 2, resize, background)


def _squashed(layers: Sequence[tuple[str, nn.Module]]) -> list[tuple[str, nn.Module]]:
    """Each named layer followed by the squashing function, named after it (`C1`, `C1_f`, ...)."""
    return [pair for name, layer in layers for pair in ((name, layer), (f"{name}_f", ScaledTanh()))]


@register_model("lenet5-1998")
def lenet5_1998(in_shape: tuple[int, ...], num_classes: int, background: float = -0.1,
                fan_in_exponent: float = FAN_IN_EXPONENT) -> nn.Sequential:
    """`background`: the value of a blank pixel after the recipe's `normalize` (lecun: -0.1).
    `fan_in_exponent`: initial spans 2.4 / F_i ** exponent (0.5 here; 1 as the paper's text reads,
    see `lenet1998_layers.FAN_IN_EXPONENT`); every net of this file takes it."""
    e = fan_in_exponent
    if num_classes != 10:
        raise TypeError(f"has one RBF code per digit (10 classes), got {num_classes}")
    layers = _squashed([("C1", _conv(1, 6, e)), ("S2", Subsampling(6, exponent=e)),
                        ("C3", SparseConv2d(6, LENET5_C3, exponent=e)), ("S4", Subsampling(16, exponent=e))])
    # C5 is a 5x5 convolution over S4's 5x5 maps, so over a 32x32 field it has one output per map
    # and is the same function as a fully connected layer on the 400 values (the paper calls it a
    # convolution for larger inputs); the linear form runs a per-sample step about 0.7 ms faster
    layers += [("flatten", nn.Flatten())] + _squashed([("C5", _linear(400, 120, e)), ("F6", _linear(120, 84, e))])
    return nn.Sequential(OrderedDict([("frame", _frame(in_shape, 32, background)), *layers,
                                      ("output", EuclideanRBF(rbf_codes()))]))


@register_model("lenet4-1998")
def lenet4_1998(in_shape: tuple[int, ...], num_classes: int, background: float = -0.1,
                fan_in_exponent: float = FAN_IN_EXPONENT) -> nn.Sequential:
    e = fan_in_exponent
    layers = _squashed([("C1", _conv(1, 4, e)), ("S2", Subsampling(4, copies=2, exponent=e)),
                        ("C3", SparseConv2d(8, LENET4_C3, exponent=e)), ("S4", Subsampling(16, exponent=e))])
    layers += [("flatten", nn.Flatten())] + _squashed([("F5", _linear(400, 120, e)),
                                                       ("output", _linear(120, num_classes, e))])
    return nn.Sequential(OrderedDict([("frame", _frame(in_shape, 32, background)), *layers]))


@register_model("lenet1-1998")
def lenet1_1998(in_shape: tuple[int, ...], num_classes: int, background: float = -0.1, resize: int = 22,
                fan_in_exponent: float = FAN_IN_EXPONENT) -> nn.Sequential:
    """`resize`: the side the 28x28 image is scaled to before it is centred in the 28x28 field
    (22: MNIST's 20x20 digit box becomes about 16x16, the paper's digit size)."""
    e = fan_in_exponent
    layers = _squashed([("C1", _conv(1, 4, e)), ("S2", Subsampling(4, exponent=e)),
                        ("C3", SparseConv2d(4, LENET1_C3, exponent=e)), ("S4", Subsampling(12, exponent=e))])
    layers += [("flatten", nn.Flatten())] + _squashed([("output", _linear(192, num_classes, e))])
    return nn.Sequential(OrderedDict([("frame", _frame(in_shape, 28, background, resize)), *layers]))


@register_model("mlp-1998")
def mlp_1998(in_shape: tuple[int, ...], num_classes: int, hidden: Sequence[int] = (300,),
             fan_in_exponent: float = FAN_IN_EXPONENT) -> nn.Sequential:
    """The MLPs of Fig. 9 (300, 1000, 300+100, 500+150 hidden units) with squashed outputs."""
    widths = [math.prod(in_shape), *hidden, num_classes]
    layers = _squashed([(f"fc{i + 1}", _linear(a, b, fan_in_exponent)) for i, (a, b) in enumerate(zip(widths, widths[1:]))])
    return nn.Sequential(OrderedDict([("flatten", nn.Flatten()), *layers]))


@register_model("linear-1998")
def linear_1998(in_shape: tuple[int, ...], num_classes: int, fan_in_exponent: float = FAN_IN_EXPONENT) -> nn.Sequential:
    """Fig. 9's linear classifier: 10 weighted sums of the 784 pixels plus biases (7,850 parameters)."""
    return nn.Sequential(OrderedDict([("flatten", nn.Flatten()), ("fc1", _linear(math.prod(in_shape), num_classes, fan_in_exponent))]))
