"""What the CIFAR-10 CPU profile rests on: the CPU fast path (bf16 autocast + channels_last) against
eager fp32, runs that stop at their threshold, and the interval of AlexNet Fig. 1's ratio."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from landmarks.catalog import load_catalog, resolve_recipe
from landmarks.data.loaders import to_device
from landmarks.errors import ConfigError
from landmarks.models import create_model
from landmarks.stats import ratio_interval
from landmarks.train.loop import fit
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

# bf16 keeps 8 bits of mantissa (relative rounding 2^-9 = 0.2% per value); a loss is a sum over
# many such products, and after a few SGD steps the two paths see slightly different weights.
# Over 6 steps of cnn4 the losses agreed within 4e-5 on the reference CPU (AVX512-BF16); the
# tolerance leaves room for other instruction sets (AMX, oneDNN's emulation on older CPUs), while a
# different update (no momentum, another rate) moves them by 50%.
BF16_RTOL = 3e-2
STEPS = 6


def _losses(recipe: Recipe, splits, seed: int = 1, fast: bool | None = None) -> np.ndarray:
    data = to_device(splits, 0.0, recipe.normalize, torch.device("cpu"))
    gen = seed_everything(seed)
    trainer = Trainer.on_device(create_model("cnn4", data.in_shape, 10), data, recipe, gen, fast=fast)
    order = torch.randperm(len(data.y_train), generator=gen)
    losses, wrong = trainer.buffers()
    for b in range(STEPS):
        trainer.step(trainer.source.batch(order[b * recipe.batch_size:(b + 1) * recipe.batch_size], b), b, losses, wrong)
    return losses[:STEPS].numpy() / recipe.batch_size


def test_cpu_fast_path_follows_eager_fp32_within_bf16_rounding(cifar_like):
    splits = cifar_like(512)
    base = Recipe(lr=0.05, momentum=0.9, batch_size=64, normalize="standard", val_fraction=0.0)
    fp32 = _losses(base, splits)
    fast = _losses(base.model_copy(update={"precision": "bf16", "channels_last": True}), splits)
    assert np.allclose(fast, fp32, rtol=BF16_RTOL), (fp32, fast)
    assert not np.allclose(fast[1:], fp32[1:], rtol=1e-6)  # bf16 did run: it is not bit-equal
    other = _losses(base.model_copy(update={"momentum": 0.0, "lr": 0.5}), splits)
    assert not np.allclose(other, fp32, rtol=BF16_RTOL)  # the tolerance can tell another update


def test_the_compiled_step_follows_eager_fp32_within_bf16_rounding(cifar_like):
    """recipe.compile on the CPU fast path: Inductor fuses batch norm, ReLU and their gradients,
    which rounds differently, but the same training follows."""
    splits = cifar_like(512)
    base = Recipe(lr=0.05, momentum=0.9, batch_size=64, normalize="standard", val_fraction=0.0)
    fp32 = _losses(base, splits)
    fast = _losses(base.model_copy(update={"precision": "bf16", "channels_last": True, "compile": True}), splits)
    assert np.allclose(fast, fp32, rtol=BF16_RTOL), (fp32, fast)
    with pytest.raises(ConfigError, match="compile: false"):
        _losses(base.model_copy(update={"compile": True, "fast": True, "drop_last": True}), splits, fast=True)


def test_a_machine_that_cannot_compile_gets_a_clear_error():
    """Inductor needs a C++ compiler on a CPU; without one the first step says what to do. In a
    process of its own: Inductor keeps what it learnt of the compiler for the process's life."""
    script = (
        "import torch, torch._inductor.config as inductor\n"
        "inductor.force_disable_caches = True\n"
        "inductor.cpp.cxx = (None, '/nonexistent/g++')\n"
        "from landmarks.errors import TrainingError\n"
        "from landmarks.models import create_model\n"
        "from landmarks.train.compile import compiled\n"
        "try:\n"
        "    compiled(create_model('cnn4', (3, 32, 32), 10))(torch.randn(2, 3, 32, 32))\n"
        "except TrainingError as err:\n"
        "    print(err)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert re.search("recipe.compile.*C\\+\\+ compiler.*compile: false", out.stdout), out.stdout + out.stderr
    assert "/nonexistent/g++" in out.stdout  # Inductor's own words, which name the compiler it tried


def test_a_batch_has_the_layout_its_recipe_names_even_after_the_crop(cifar_like):
    """The crop gathers in NHWC order; an NCHW recipe must still feed its net NCHW batches, or the
    eager fp32 reference would silently run channels_last."""
    data = to_device(cifar_like(256), 0.0, "standard", torch.device("cpu"))
    for channels_last in (False, True):
        recipe = Recipe(lr=0.05, batch_size=64, augment=("crop", "flip"), channels_last=channels_last,
                        normalize="standard", val_fraction=0.0)
        net = create_model("cnn4", data.in_shape, 10)
        seen = []
        net.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
        trainer = Trainer.on_device(net, data, recipe, seed_everything(0))
        losses, wrong = trainer.buffers()
        trainer.step(trainer.source.batch(torch.arange(64), 0), 0, losses, wrong)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        assert seen[0].is_contiguous(memory_format=fmt), (channels_last, seen[0].stride())


def test_a_run_stops_at_its_threshold(digits):
    data = digits(0.1, "standard")
    recipe = Recipe(lr=0.05, momentum=0.9, batch_size=32, epochs=30, threshold=20.0, stop_at_threshold=True)
    res = fit(Trainer.on_device(create_model("mlp", data.in_shape, 10), data, recipe, seed_everything(0)))
    assert len(res.history) < 30 and res.history[-1]["train_error"] <= 20.0
    assert all(h["train_error"] > 20.0 for h in res.history[:-1])


def test_ratio_interval_covers_the_true_ratio():
    rng = np.random.default_rng(0)
    hits, trials = 0, 2000
    for _ in range(trials):
        a, b = rng.normal(30, 4, 5), rng.normal(5, 1, 5)  # tanh and ReLU epochs, true ratio 6
        low, high = ratio_interval(a, b)
        hits += low <= 6.0 <= high
    assert 0.92 <= hits / trials <= 0.98
    assert math.isnan(ratio_interval([30.0], [5.0, 6.0])[0])
    assert ratio_interval([12.0, 12.0], [3.0, 3.0]) == (4.0, 4.0)


def test_cifar_cpu_profile_runs_the_three_cifar_landmarks(root):
    cat = load_catalog(root / "benchmarks")
    ran = {lid for lid, lm in cat.items() if "cifar-cpu" in lm.profiles}
    assert ran == {"krizhevsky2012-relu-vs-tanh", "he2016-fig6-plain-vs-residual", "krizhevsky2012-cuda-convnet-18pct"}
    fig1 = cat["krizhevsky2012-relu-vs-tanh"]
    assert len(fig1.profile("cifar-cpu").seeds) >= 5
    for claim in fig1.claims_for("cifar-cpu"):
        r = resolve_recipe(fig1, claim, "cifar-cpu")
        assert r.lr_search is not None and r.stop_at_threshold and r.precision == "auto"
    fig6 = cat["he2016-fig6-plain-vs-residual"]
    steps = {resolve_recipe(fig6, c, "cifar-cpu").max_steps for c in fig6.claims_for("cifar-cpu")}
    assert len(steps) == 1 and fig6.budget("cifar-cpu") == "reduced budget"
