"""The fast path's step (device-resident uint8, in-step normalisation and augmentation, foreach
SGD with a tensor learning rate) against the reference engine, on the CPU (no CUDA graph)."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from landmarks.catalog import Recipe, Schedule
from landmarks.data import Splits, arrays_hash
from landmarks.data.loaders import to_device
from landmarks.errors import ConfigError
from landmarks.models import create_model
from landmarks.train.engine import TrainState, _Loop, fit, train_one_epoch
from landmarks.train.seeding import seed_everything


def cifar_like(n=640, seed=0) -> Splits:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
    y = rng.integers(0, 10, n).astype(np.int64)
    x[np.arange(n), y, :, 0] = 255  # something learnable: a bright row per class
    return Splits("gen", x, y, x[:128], y[:128], 10, 255, arrays_hash(x, y))


def trajectory(fast: bool, recipe: Recipe, model_name="resnet20", seed=3):
    data = to_device(cifar_like(N), recipe.val_fraction, recipe.normalize, torch.device("cpu"))
    gen = seed_everything(seed)
    model = create_model(model_name, data.in_shape, 10)
    loop = _Loop(model, data, recipe, gen, None, None, fast=fast)
    state, rows = TrainState(), []
    for _ in range(recipe.epochs):
        rows.append(train_one_epoch(loop, state))
        state.epoch += 1
        state.batch = 0
    return rows, model, state


# a smooth regime (modest rate): float rounding then stays rounding instead of being amplified
RECIPE = Recipe(lr=0.02, momentum=0.9, weight_decay=1e-4, batch_size=16, epochs=8, drop_last=True,
                augment=("crop", "flip"), normalize="standard", val_fraction=0.0,
                schedule=Schedule(kind="multistep", unit="step", milestones=(150,), warmup_steps=20, warmup_factor=0.1))
N = 400


@pytest.mark.slow
@pytest.mark.parametrize("model_name,epochs,rtol", [("layers18pct", 8, 1e-3), ("resnet20", 2, 1e-2)])
def test_fast_step_matches_the_eager_reference(model_name, epochs, rtol):
    """Hundreds of steps for a net without batch norm; fewer for ResNet-20, whose trajectory
    amplifies ulp-level differences (one step agrees to 1e-8) until it drifts."""
    recipe = replace(RECIPE, epochs=epochs)
    ref, ref_model, ref_state = trajectory(False, recipe, model_name)
    got, fast_model, fast_state = trajectory(True, recipe, model_name)
    assert ref_state.step == fast_state.step == epochs * (N // 16)
    ref_loss = np.array([r["train_loss"] for r in ref])
    got_loss = np.array([r["train_loss"] for r in got])
    assert np.allclose(got_loss, ref_loss, rtol=rtol), (ref_loss, got_loss)
    assert ref_loss[-1] < ref_loss[0]  # it learned something
    if model_name == "layers18pct":  # ResNet-20's weights drift apart faster than its loss does
        for (k, a), b in zip(ref_model.state_dict().items(), fast_model.state_dict().values()):
            if a.is_floating_point():
                assert torch.allclose(a, b, rtol=1e-2, atol=1e-3), k


def test_fast_path_needs_fixed_batches():
    data = to_device(cifar_like(64), 0.0, "unit", torch.device("cpu"))
    with pytest.raises(ConfigError, match="drop_last"):
        _Loop(create_model("resnet20", data.in_shape, 10), data, Recipe(fast=True), torch.Generator(), None, None, fast=True)


def test_max_steps_stops_mid_epoch_and_fast_flag_is_eager_on_cpu():
    recipe = Recipe(lr=0.05, momentum=0.9, batch_size=64, epochs=50, max_steps=25, fast=True, drop_last=True,
                    val_fraction=0.1)
    data = to_device(cifar_like(), recipe.val_fraction, recipe.normalize, torch.device("cpu"))
    res = fit(create_model("layers18pct", data.in_shape, 10), data, recipe, seed_everything(0))
    assert res.steps == 25 and len(res.history) == 3  # 9 steps an epoch: 9 + 9 + 7, stopped at 25
