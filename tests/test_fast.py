"""The fast path's step (device-resident uint8, in-step normalisation and augmentation, foreach
SGD with a tensor learning rate) against the reference engine, on the CPU (no CUDA graph).

What is compared is what stays stable whatever instruction set oneDNN picks (AVX2, AVX-512,
AMX): the per-step losses of the first steps. The two paths differ only in the order of float
operations inside the SGD update, so over a few steps their losses agree to float rounding; over
hundreds of steps that rounding is amplified, differently on each CPU, and weights drift apart.
"""

import numpy as np
import pytest
import torch

from landmarks.data.loaders import to_device
from landmarks.errors import ConfigError
from landmarks.models import create_model
from landmarks.train.loop import fit
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

STEPS = 12
# measured on the reference CPU over these 12 steps: 1e-7 for cnn4, 2e-4 for ResNet-20
# (batch norm amplifies rounding); dropping momentum from the update moves them by 3e-2 and 5e-1
RTOL = 2e-3


def step_losses(fast: bool, recipe: Recipe, splits, model_name: str, seed: int = 3) -> np.ndarray:
    data = to_device(splits, recipe.val_fraction, recipe.normalize, torch.device("cpu"))
    gen = seed_everything(seed)
    trainer = Trainer.on_device(create_model(model_name, data.in_shape, 10), data, recipe, gen, fast=fast)
    trainer.model.train()
    order = torch.randperm(len(data.y_train), generator=gen)
    losses, wrong = trainer.buffers()
    for b in range(STEPS):
        trainer.step(trainer.source.batch(order[b * recipe.batch_size : (b + 1) * recipe.batch_size], b), b, losses, wrong)
    return losses[:STEPS].numpy() / recipe.batch_size


@pytest.mark.parametrize("model_name", ["cnn4", "resnet20"])
def test_fast_step_matches_the_eager_reference(model_name, cifar_like, smooth_recipe):
    splits = cifar_like(400)
    ref = step_losses(False, smooth_recipe, splits, model_name)
    got = step_losses(True, smooth_recipe, splits, model_name)
    assert np.allclose(got, ref, rtol=RTOL), (ref, got)
    no_momentum = step_losses(True, smooth_recipe.model_copy(update={"momentum": 0.0}), splits, model_name)
    assert not np.allclose(no_momentum, ref, rtol=RTOL)  # the comparison can tell a different update


def test_fast_path_needs_fixed_batches(cifar_like):
    data = to_device(cifar_like(64), 0.0, "unit", torch.device("cpu"))
    with pytest.raises(ConfigError, match="drop_last"):
        Trainer.on_device(create_model("resnet20", data.in_shape, 10), data, Recipe(fast=True), torch.Generator(), fast=True)


def test_max_steps_stops_mid_epoch_and_fast_flag_is_eager_on_cpu(cifar_like):
    recipe = Recipe(lr=0.05, momentum=0.9, batch_size=64, epochs=50, max_steps=25, fast=True, drop_last=True,
                    val_fraction=0.1)
    data = to_device(cifar_like(), recipe.val_fraction, recipe.normalize, torch.device("cpu"))
    res = fit(Trainer.on_device(create_model("layers18pct", data.in_shape, 10), data, recipe, seed_everything(0)))
    assert res.steps == 25 and len(res.history) == 3  # 9 steps an epoch: 9 + 9 + 7, stopped at 25
