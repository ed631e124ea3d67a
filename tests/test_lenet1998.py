"""LeCun et al. 1998 as published: LeNet-5's Table I, parameter and connection counts, the RBF
codes and outputs, LeNet-1 and LeNet-4, the paper's criteria and its input scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits
from landmarks.errors import ConfigError
from landmarks.models import count_parameters, create_model
from landmarks.models.lenet1998_codes import rbf_codes
from landmarks.models.lenet1998_layers import EuclideanRBF, ScaledTanh, SparseConv2d, Subsampling
from landmarks.train.losses import compute_loss

# Table I of the paper, copied as printed: row = S2 map, column = C3 map, X = connected
TABLE_I = ["X...XXX..XXXX.XX",
           "XX...XXX..XXXX.X",
           "XXX...XXX..X.XXX",
           ".XXX..XXXX..X.XX",
           "..XXX..XXXX.XX.X",
           "...XXX..XXXX.XXX"]


def lenet5() -> nn.Sequential:
    torch.manual_seed(0)
    return create_model("lenet5-1998", (1, 28, 28), 10)


def test_c3_connects_as_table_i():
    """A C3 map changes when an S2 map changes exactly where Table I has an X."""
    c3 = lenet5().C3
    x = torch.randn(1, 6, 14, 14, requires_grad=True)
    seen = torch.zeros(6, 16, dtype=torch.bool)
    out = c3(x)
    for o in range(16):
        (g,) = torch.autograd.grad(out[0, o].sum(), x, retain_graph=True)
        seen[:, o] = g[0].abs().sum(dim=(1, 2)) > 0
    want = torch.tensor([[ch == "X" for ch in row] for row in TABLE_I])
    assert torch.equal(seen, want)


def test_lenet5_parameters_per_layer_as_the_paper_counts():
    per_layer: dict[str, int] = {}
    for name, p in lenet5().named_parameters():
        per_layer[name.split(".")[0]] = per_layer.get(name.split(".")[0], 0) + p.numel()
    # Section II-B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164; "60,000 trainable parameters"
    assert per_layer == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164}
    assert count_parameters(lenet5()) == 60_000


def _connections(model: nn.Sequential, x: torch.Tensor) -> int:
    """Multiply-adds of one forward pass, a bias counting as one connection, as the paper counts."""
    total = 0
    for m in model:
        y = m(x)
        units = y[0].numel()
        if isinstance(m, nn.Conv2d):
            total += units * (m.in_channels * m.kernel_size[0] * m.kernel_size[1] + 1)
        elif isinstance(m, SparseConv2d):  # per output map: its own inputs
            per_map = torch.bincount(m.out_idx, minlength=m.out_maps) * m.kernel**2 + 1
            total += int(per_map.sum()) * y[0, 0].numel()
        elif isinstance(m, Subsampling):
            total += units * (m.size**2 + 1)
        elif isinstance(m, nn.Linear):
            total += units * (m.in_features + 1)
        elif isinstance(m, EuclideanRBF):
            total += m.codes.numel()
        x = y
    return total


def test_lenet5_has_the_papers_340908_connections_and_32x32_field():
    model = lenet5()
    assert _connections(model, torch.zeros(1, 1, 28, 28)) == 340_908  # Section II-B
    assert model.C1(model.frame(torch.zeros(1, 1, 28, 28))).shape == (1, 6, 28, 28)  # 32x32 read by 5x5


def test_rbf_codes_are_plus_minus_one_bitmaps_far_apart():
    codes = rbf_codes()
    assert codes.shape == (10, 84) and codes.shape[1] == 7 * 12
    assert set(codes.unique().tolist()) == {-1.0, 1.0}
    differ = (codes[:, None] != codes[None]).sum(-1) + torch.eye(10, dtype=torch.long) * 84
    assert int(differ.min()) >= 10
    # the bitmap is the digit's picture: the 1's middle column is ink from top to baseline
    one = codes[1].view(12, 7)
    assert bool((one[1:10, 3] == 1).all()) and bool((one[10:] == -1).all())


def test_rbf_output_is_the_negative_distance_to_each_code():
    model = lenet5()
    x = torch.randn(4, 1, 28, 28)
    out = model(x)
    assert out.shape == (4, 10) and bool((out <= 0).all())
    f6 = model[:-1](x)
    dist = torch.cdist(f6, rbf_codes()) ** 2
    torch.testing.assert_close(-out, dist, rtol=1e-4, atol=1e-3)
    assert torch.equal(out.argmax(1), dist.argmin(1))
    # an F6 state equal to digit 7's code: distance 0 to it, so 7 is the prediction
    assert int(model.output(rbf_codes()[7:8]).argmax()) == 7


@pytest.mark.parametrize("name,params,shape", [("lenet1-1998", 2578, (1, 28, 28)), ("lenet4-1998", 50_698, (1, 28, 28)),
                                                ("mlp-1998", 238_510, (1, 28, 28)), ("linear-1998", 7_850, (1, 28, 28))])
def test_other_nets_of_fig_9(name, params, shape):
    model = create_model(name, shape, 10)
    assert count_parameters(model) == params
    out = model(torch.randn(3, *shape))
    assert out.shape == (3, 10)
    if name != "linear-1998":  # squashed outputs, in f's range
        assert isinstance(model[-1], ScaledTanh) and bool((out.abs() < 1.7159).all())


def test_lenet1_reads_a_16x16_digit_centred_in_28x28_and_lenet4_pairs_its_subsampling():
    lenet1 = create_model("lenet1-1998", (1, 28, 28), 10)
    digit = torch.full((1, 1, 28, 28), -0.1)
    digit[..., 4:24, 4:24] = 1.175  # MNIST's 20x20 digit box
    field = lenet1.frame(digit)
    ink = (field > 0).nonzero()[:, 2:]
    assert field.shape == (1, 1, 28, 28) and 15 <= int(ink.max() - ink.min()) + 1 <= 17
    assert field[..., :5, :].allclose(torch.tensor(-0.1))  # background margins
    lenet4 = create_model("lenet4-1998", (1, 28, 28), 10)
    assert lenet4.S2.coef.numel() == 8 and lenet4.C3.out_maps == 16 and len(lenet4.C3.out_idx) == 48
    with pytest.raises(ConfigError, match="one-channel square images that fit its 32x32 input field"):
        create_model("lenet5-1998", (3, 32, 32), 10)


@pytest.mark.parametrize("exponent", [1.0, 0.5])
def test_initial_weights_uniform_within_2_4_over_a_power_of_the_fan_in(exponent):
    torch.manual_seed(0)
    model = create_model("lenet5-1998", (1, 28, 28), 10, fan_in_exponent=exponent)
    fan_in = {"C1": 25, "S2": 4, "S4": 4, "C5": 400, "F6": 120}
    for name, p in model.named_parameters():
        layer, top = name.split(".")[0], float(p.detach().abs().max())
        if layer in fan_in:
            bound = 2.4 / fan_in[layer] ** exponent
            assert top <= bound
            if p.numel() >= 84:
                assert top > 0.9 * bound  # the whole range is used
    # C3: each map's kernels within 2.4 / (25 x the number of S2 maps it reads) ** exponent
    c3 = model.C3
    per_map = torch.bincount(c3.out_idx, minlength=16) * 25
    bounds = 2.4 / per_map[c3.out_idx].float() ** exponent
    assert bool((c3.weight.abs().amax(dim=(1, 2)) <= bounds).all())


def test_the_sqrt_reading_keeps_the_weighted_sums_in_one_range_as_the_paper_says_it_should():
    """Appendix A divides by the fan-in so that "the initial standard deviation of the weighted
    sums" is "in the same range for each unit". On MNIST at the paper's input scale, 2.4 / sqrt(F_i)
    does that; 2.4 / F_i taken literally shrinks them layer after layer, to under 0.02 at F6."""
    x = torch.rand(256, 1, 28, 28).pow(4) * 1.275 - 0.1  # mostly background, some ink
    spreads = {}
    for exponent in (1.0, 0.5):
        torch.manual_seed(0)
        model = create_model("lenet5-1998", (1, 28, 28), 10, fan_in_exponent=exponent)
        sums, h = {}, x
        with torch.no_grad():
            for name, layer in model.named_children():
                h = layer(h)
                if name in ("C1", "C3", "C5", "F6"):
                    sums[name] = float(h.std())
        spreads[exponent] = sums
    assert spreads[1.0]["F6"] < 0.02 and spreads[1.0]["F6"] < spreads[1.0]["C1"] / 5
    literal, read = spreads[1.0], spreads[0.5]
    assert max(read.values()) / min(read.values()) < 4 < max(literal.values()) / min(literal.values())


def test_criteria_against_hand_computations():
    # penalties y = (1, 4, 0.25), correct class 0, j = 0.1:
    # E = y_0 + log(e^-0.1 + e^-1 + e^-4 + e^-0.25)
    #   = 1 + log(0.904837 + 0.367879 + 0.018316 + 0.778801) = 1 + log(2.069833) = 1.727469
    y = torch.tensor([[1.0, 4.0, 0.25]])
    want = 1 + math.log(math.exp(-0.1) + math.exp(-1) + math.exp(-4) + math.exp(-0.25))
    assert float(compute_loss(-y, torch.tensor([0]), "rbf_map", rbf_j=0.1)) == pytest.approx(want, rel=1e-6)
    assert want == pytest.approx(1.727469, abs=1e-6)
    # j moves it: with j = 5 the e^-j term is 0.006738 instead of 0.904837
    want5 = 1 + math.log(math.exp(-5) + math.exp(-1) + math.exp(-4) + math.exp(-0.25))
    assert float(compute_loss(-y, torch.tensor([0]), "rbf_map", rbf_j=5.0)) == pytest.approx(want5, rel=1e-6)
    # the MLE criterion is the correct class's penalty, averaged: (4 + 0.25) / 2 over two examples
    assert float(compute_loss(-torch.cat([y, y]), torch.tensor([1, 2]), "rbf_mse")) == pytest.approx(2.125)
    # squared error to +-1 targets, summed over outputs: (0.5+1)^2 + (-0.2+1)^2 + (1-1)^2 = 2.89
    out = torch.tensor([[0.5, -0.2, 1.0]])
    assert float(compute_loss(out, torch.tensor([2]), "mse_pm1")) == pytest.approx(2.89)


def test_lecun_normalisation_maps_background_and_ink():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, size=(20, 28, 28, 1), dtype=np.uint8)
    train[0] = 0
    train[1] = 255
    train[2] = 51  # a fifth of full ink
    splits = Splits("t", train, np.arange(20) % 10, train[:4], np.arange(4), 10, 255, "h")
    data = to_device(splits, 0.0, "lecun", torch.device("cpu"))
    assert data.x_train[0].allclose(torch.tensor(-0.1)) and data.x_train[1].allclose(torch.tensor(1.175))
    assert data.x_train[2].allclose(torch.tensor(-0.1 + 0.2 * 1.275))
    # the CUDA fast path's form, (x / max - mean) / std, gives the same inputs
    torch.testing.assert_close((data.x_train_u8.float() / 255 - data.mean) / data.std, data.x_train)
    torch.testing.assert_close(data.x_test, data.x_train[:4])
