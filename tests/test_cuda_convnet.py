"""cuda-convnet's layers-18pct as its cfg files define it: same-map response normalisation, the
cfg's initial weights, per-layer rates and weight costs, and mean-image subtraction."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from landmarks.data.loaders import to_device
from landmarks.models import create_model
from landmarks.models.convnet_cifar import CudaConvnetPool, SameMapResponseNorm
from landmarks.train.recipe import ParamRule, Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.steps.sgd import make_optimizer
from landmarks.train.trainer import Trainer


def test_same_map_norm_divides_by_its_own_neighbourhood():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 6, 7) * 30
    got = SameMapResponseNorm(size=3, scale=5e-3, power=0.75)(x)
    want = torch.empty_like(x)
    for n, c, i, j in np.ndindex(*x.shape):
        window = x[n, c, max(i - 1, 0):i + 2, max(j - 1, 0):j + 2]  # the same map only
        want[n, c, i, j] = x[n, c, i, j] / (1 + 5e-3 / 9 * (window**2).sum()) ** 0.75
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    # unlike nn.LocalResponseNorm, another map's activations leave a map alone
    y = x.clone()
    y[:, 1] *= 100
    torch.testing.assert_close(SameMapResponseNorm(3, 5e-3, 0.75)(y)[:, 0], got[:, 0])


def test_layers18pct_draws_the_cfg_weights():
    torch.manual_seed(0)
    m = create_model("layers18pct", (3, 32, 32), 10)
    convs = [x for x in m.modules() if isinstance(x, (torch.nn.Conv2d, torch.nn.Linear))]
    stds = [float(x.weight.detach().std()) for x in convs]
    assert stds == pytest.approx([1e-4, 1e-2, 1e-2, 1e-2], rel=0.1)
    assert isinstance(m.features[3], SameMapResponseNorm)


def test_alexnet_figure_1_paper_profile_runs_the_cfg_stack_as_cuda_convnet_would():
    """Figure 1's net at the paper profile: the layers-18pct stack without normalisation, the cfg's
    initial weights, raw pixels less the mean image, biases at twice the rate, no regularisation."""
    from landmarks.catalog import load_catalog, resolve_recipe

    lm = load_catalog("benchmarks")["krizhevsky2012-relu-vs-tanh"]
    for name, act in (("ReLU", torch.nn.ReLU), ("tanh", torch.nn.Tanh)):
        claim = lm.claim_in(name, "paper")
        torch.manual_seed(0)
        m = create_model(claim.model, (3, 32, 32), 10, **claim.model_args)
        layers = [x for x in m.modules() if isinstance(x, (torch.nn.Conv2d, torch.nn.Linear))]
        assert [float(x.weight.detach().std()) for x in layers] == pytest.approx([1e-4, 1e-2, 1e-2, 1e-2], rel=0.1)
        assert any(isinstance(x, act) for x in m.modules())
        assert not any(isinstance(x, SameMapResponseNorm) for x in m.modules())
        recipe = resolve_recipe(lm, claim, "paper")
        assert recipe.normalize == "pixel_mean" and recipe.weight_decay == 0 and not recipe.augment
        assert recipe.param_settings("conv.bias")[0] == 2.0 and recipe.param_settings("fc.weight")[0] == 1.0
        assert recipe.lr_search is not None and 0.001 in recipe.lr_search.grid
    assert lm.profile("paper").minor_departures and not lm.profile("paper").modified_recipe


def test_param_rules_give_each_layer_its_rate_and_weight_cost():
    recipe = Recipe(lr=0.001, weight_decay=0.004, momentum=0.9,
                    param_rules=(ParamRule(match="bias$", lr_scale=2.0, weight_decay=0.0),
                                 ParamRule(match=r"^fc\.weight$", weight_decay=1.0)))
    model = create_model("layers18pct", (3, 32, 32), 10)
    names = [n for n, _ in model.named_parameters()]
    groups = make_optimizer(model, recipe).param_groups
    got = {n: (g["lr"], g["weight_decay"]) for n, g in zip(names, groups)}
    assert got["features.0.weight"] == (0.001, 0.004)
    assert got["features.0.bias"] == (0.002, 0.0)
    assert got["fc.weight"] == (0.001, 1.0) and got["fc.bias"] == (0.002, 0.0)
    with pytest.raises(ValidationError, match="not a regular expression"):
        ParamRule(match="fc[")


def _fc_after_8_steps(data, recipe: Recipe, fast: bool) -> torch.Tensor:
    gen = seed_everything(3)
    trainer = Trainer.on_device(create_model("cnn4", data.in_shape, 10), data, recipe, gen, fast=fast)
    order = torch.randperm(len(data.y_train), generator=gen)
    losses, wrong = trainer.buffers()
    for b in range(8):
        trainer.step(trainer.source.batch(order[b * 16:(b + 1) * 16], b), b, losses, wrong)
    return trainer.model.fc.weight.detach().clone()


def test_fast_step_follows_the_param_rules(cifar_like, smooth_recipe):
    """The fast path's own SGD applies the same per-parameter rates and decays as torch's."""
    recipe = smooth_recipe.model_copy(update={"param_rules": (
        ParamRule(match="bias$", lr_scale=2.0, weight_decay=0.0), ParamRule(match=r"^fc\.weight$", weight_decay=1.0))})
    data = to_device(cifar_like(400), 0.0, recipe.normalize, torch.device("cpu"))
    finals = [_fc_after_8_steps(data, recipe, fast) for fast in (False, True)]
    torch.testing.assert_close(finals[1], finals[0], rtol=1e-3, atol=1e-5)
    # and the rules matter: without them fc's weights end elsewhere
    plain = _fc_after_8_steps(data, smooth_recipe, True)
    assert not torch.allclose(plain, finals[0], rtol=1e-3, atol=1e-5)


def test_pixel_mean_subtracts_the_training_mean_image(cifar_like):
    splits = cifar_like(300)
    data = to_device(splits, 0.2, "pixel_mean", torch.device("cpu"))
    assert data.mean.shape == (1, 3, 32, 32)
    assert float(data.x_train.mean(dim=0).abs().max()) < 1e-3  # every pixel centred on the training part
    # on cuda-convnet's raw pixel scale: a test image minus the mean image, both in 0..255 units
    raw = torch.from_numpy(splits.test_x).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(data.x_test, raw - 255 * data.mean, rtol=1e-5, atol=1e-3)
    assert float(data.x_test.abs().max()) > 100  # not squeezed into [-1, 1]


def _cuda_convnet_pool(x: torch.Tensor, kind: str, size: int = 3, stride: int = 2) -> torch.Tensor:
    """cuda-convnet's kLocalPool written out: outputsX = ceil((imgSize - sizeX) / stride) + 1,
    window [o * stride, o * stride + sizeX) clipped to the image; avg divides by sizeX^2."""
    side = x.shape[-1]
    n_out = math.ceil((side - size) / stride) + 1
    out = torch.empty(*x.shape[:2], n_out, n_out, dtype=x.dtype)
    for i, j in np.ndindex(n_out, n_out):
        window = x[..., i * stride:min(i * stride + size, side), j * stride:min(j * stride + size, side)]
        out[..., i, j] = window.amax(dim=(-2, -1)) if kind == "max" else window.sum(dim=(-2, -1)) / size**2
    return out


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("side", [32, 16, 8, 7])
def test_pooling_has_cuda_convnets_windows(kind, side):
    torch.manual_seed(side)
    x = torch.randn(2, 3, side, side, dtype=torch.float64)
    torch.testing.assert_close(CudaConvnetPool(kind)(x), _cuda_convnet_pool(x, kind))


def test_layers18pct_maps_and_parameters_are_the_cfgs():
    """layers-18pct.cfg with cuda-convnet's pooling: 32 -> 16 -> 8 -> 4, fc10 on 4 x 4 x 64 inputs,
    89,578 parameters (conv1 2,432, conv2 25,632, conv3 51,264, fc10 10,250)."""
    model = create_model("layers18pct", (3, 32, 32), 10)
    x = torch.randn(2, 3, 32, 32)
    sides = []
    for layer in model.features:
        x = layer(x)
        if isinstance(layer, CudaConvnetPool):
            sides.append(x.shape[-1])
    assert sides == [16, 8, 4] and model.fc.in_features == 4 * 4 * 64
    assert sum(p.numel() for p in model.parameters()) == 89_578
    old = create_model("layers18pct", (3, 32, 32), 10, pool="floor")
    assert old.fc.in_features == 3 * 3 * 64 and sum(p.numel() for p in old.parameters()) == 85_098
