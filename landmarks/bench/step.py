"""Milliseconds per training step: eager fp32 against the device's fast path, same model and batch,
with the arithmetic rate each achieves beside the machine's measured matmul peak (the limit).

    landmarks bench step --device cpu --models lenet5,cnn4,layers18pct,resnet20

Eager fp32 is the reference engine (float32 batches sliced from the device-resident dataset,
torch.optim.SGD). The fast path is what a recipe with `precision: auto, channels_last: true`
(and `fast: true` on CUDA) gets:
- on CUDA: uint8 images indexed, normalised and augmented inside the step, bf16 autocast,
  channels_last, the whole step replayed as a CUDA graph;
- on a CPU: the eager step with bf16 autocast where the CPU multiplies bf16 natively
  (AVX512-BF16 or AMX; fp32 otherwise) and channels_last for conv nets; and, in a column of its
  own, the same step through torch.compile (`compile: true`).
Eager fp32 keeps PyTorch's default NCHW layout, as a recipe without `channels_last` does.
Both use the same data, augmentation (CIFAR nets: 4-pixel pad, random crop, flip) and optimizer
settings. A step's FLOPs (forward and backward, counted by torch's FlopCounterMode) over its time
gives GFLOP/s; the peak is a large square matmul timed in fp32 and in bf16.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from landmarks.bench.timing import sync
from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits, arrays_hash
from landmarks.models import create_model
from landmarks.provenance import cpu_name
from landmarks.train.precision import cpu_bf16_unit, resolve_precision
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

log = logging.getLogger(__name__)

CIFAR_AUG = ("crop", "flip")
# name -> (model, model args, image shape (H, W, C), batch, augmentation)
MODELS = {
    "lenet5": ("lenet5", {}, (28, 28, 1), 64, ()),
    "cnn4": ("cnn4", {}, (32, 32, 3), 128, ()),
    "layers18pct": ("layers18pct", {}, (32, 32, 3), 128, ()),
    "resnet20": ("resnet20", {}, (32, 32, 3), 128, CIFAR_AUG),
    "resnet56": ("resnet56", {}, (32, 32, 3), 128, CIFAR_AUG),
    "resnet110": ("resnet110", {}, (32, 32, 3), 128, CIFAR_AUG),
}
CPU_DEFAULT = ("lenet5", "cnn4", "layers18pct", "resnet20")
NOTES = ("Synthetic uint8 images resident on the device, SGD momentum 0.9, weight decay 5e-4; "
         "timed after warm-up (which includes the CUDA fast path's graph capture and torch.compile's "
         "compilation); the paths take turns, and each figure is the median of its timed passes; a speed-up "
         "is the ratio of the medians, and its rounds column the lowest and highest of the passes' ratios; "
         "synchronised, wall clock over the timed steps. GFLOP/s: the step's forward and backward "
         "FLOPs (torch FlopCounterMode) over its time; peak: a square matmul of the same machine.")


def _splits(shape: tuple[int, int, int], n: int) -> Splits:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *shape)).astype(np.uint8)
    y = rng.integers(0, 10, n).astype(np.int64)
    return Splits("synthetic", x, y, x[:64], y[:64], 10, 255, arrays_hash(x[:1]))


def path_recipe(path: str, device: torch.device) -> dict:
    """The recipe fields of a path: "eager" (fp32, NCHW), "fast" (the device's fast path) or
    "compiled" (the fast path through torch.compile; the eager step only, so not on CUDA)."""
    if path == "eager":
        return {}
    fields = {"precision": "auto", "channels_last": True, "fast": device.type == "cuda"}
    return fields | ({"compile": True} if path == "compiled" else {})


def step_timer(key: str, path: str, device: torch.device, warmup: int) -> Callable[[int], float]:
    """A path's trainer, built and warmed up once; each call times that many more steps (ms/step).
    Keeping it lets the paths take turns, so a machine's drift falls on all of them alike."""
    name, args, shape, batch, aug = MODELS[key]
    n = batch * 16
    on_cuda_fast = path == "fast" and device.type == "cuda"
    data = to_device(_splits(shape, n), 0.0, "standard", device, float_train=not on_cuda_fast)
    gen = seed_everything(0)
    model = create_model(name, data.in_shape, 10, **args).to(device)
    recipe = Recipe(lr=0.05, momentum=0.9, weight_decay=5e-4, batch_size=batch, drop_last=True, augment=aug,
                    val_fraction=0.0, **path_recipe(path, device))
    trainer = Trainer.on_device(model, data, recipe, gen, fast=on_cuda_fast)
    model.train()
    per_epoch = trainer.steps_per_epoch
    order = torch.randperm(n, generator=gen).to(device)
    losses, wrong = trainer.buffers()
    done = 0

    def run(steps: int) -> None:
        nonlocal done
        for i in range(done, done + steps):
            b = i % per_epoch
            trainer.step(trainer.source.batch(order[b * batch : (b + 1) * batch], b), i, losses, wrong)
        done += steps

    run(warmup)

    def timed(steps: int) -> float:
        sync(device)
        t0 = time.perf_counter()
        run(steps)
        sync(device)
        return 1000.0 * (time.perf_counter() - t0) / steps

    return timed


def interleaved(key: str, paths: tuple[str, ...], device: torch.device, steps: int, warmup: int,
                repeats: int) -> dict[str, list[float]]:
    """Each path's ms/step in each of `repeats` rounds, the paths taking turns in every round."""
    timers = {p: step_timer(key, p, device, warmup) for p in paths}
    times: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(repeats):
        for p, timed in timers.items():
            times[p].append(timed(steps))
    return times


def speed_up_range(base: list[float], other: list[float]) -> str:
    """The lowest and highest of the rounds' speed-ups. Paths timed side by side in a round share
    that moment's machine, so this shows how far the speed-up itself moves with the drift."""
    ratios = [b / o for b, o in zip(base, other)]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"


def step_flops(key: str) -> int:
    """FLOPs of one training step's forward and backward passes (the SGD update is negligible)."""
    name, args, (h, w, c), batch, _ = MODELS[key]
    model = create_model(name, (c, h, w), 10, **args)
    x, y = torch.randn(batch, c, h, w), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops()


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int = 0, repeats: int = 5) -> float:
    """GFLOP/s of a square n x n matmul, the best of `repeats` timings. bf16 on a CPU without a bf16
    unit is emulated at well under 1 GFLOP/s: a 256 x 256 matmul measures that in a second, where
    2048 x 2048 would take minutes."""
    emulated = device.type == "cpu" and dtype == torch.bfloat16 and cpu_bf16_unit() == "none"
    n = n or (8192 if device.type == "cuda" else 256 if emulated else 2048)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def run(names: list[str], device: torch.device, steps: int, warmup: int, repeats: int) -> tuple[list[dict], str]:
    """The table's rows and a line naming the peaks and the fast path."""
    peak32, peak16 = matmul_peak(device, torch.float32), matmul_peak(device, torch.bfloat16)
    precision = resolve_precision("auto", device)
    on_cpu = device.type == "cpu"
    if not on_cpu:
        fast_kind = "CUDA graph + bf16 + channels_last" if precision == "bf16" else "CUDA graph + fp32 + channels_last"
    else:
        fast_kind = f"eager, {'bf16 autocast' if precision == 'bf16' else 'fp32'} + channels_last (CPU)"
    rows = []
    for key in names:
        _, _, _, batch, aug = MODELS[key]
        gflop = step_flops(key) / 1e9
        # torch.compile pays for some nets and not others on a CPU (Inductor's pooling kernels
        # are slower than ATen's), so it is a column of its own, not the fast path
        rounds = interleaved(key, ("eager", "fast", "compiled") if on_cpu else ("eager", "fast"), device, steps,
                             warmup, repeats)
        ms = {p: statistics.median(t) for p, t in rounds.items()}
        eager, fast, compiled = ms["eager"], ms["fast"], ms.get("compiled")
        row = {"model": key, "batch": batch, "augmentation": "+".join(aug) or "none", "GFLOP/step": round(gflop, 2),
               "eager fp32 ms/step": round(eager, 2), "fast ms/step": round(fast, 2), "speed-up": round(eager / fast, 2),
               "speed-up, rounds": speed_up_range(rounds["eager"], rounds["fast"])}
        if compiled:
            row |= {"fast + compile ms/step": round(compiled, 2), "speed-up with compile": round(eager / compiled, 2),
                    "with compile, rounds": speed_up_range(rounds["eager"], rounds["compiled"])}
        rates = {"eager GFLOP/s": eager, "fast GFLOP/s": fast, "fast + compile GFLOP/s": compiled}
        row |= {col: round(gflop / ms * 1e3, 1) for col, ms in rates.items() if ms}
        rows.append(row | {"fast path": fast_kind})
        log.info("  %s: eager %.2f ms, fast %.2f ms -> %.1fx%s", key, eager, fast, eager / fast,
                 f"; with torch.compile {compiled:.2f} ms -> {eager / compiled:.1f}x" if compiled else "")
    peaks = (f"Matmul peak of this machine (the limit): {peak32:,.0f} GFLOP/s fp32, {peak16:,.0f} GFLOP/s bf16. "
             f"Fast path here: {fast_kind}.")
    if on_cpu:  # the bf16/fp32 peak ratio, and so the fast path's ceiling, follows the unit
        peaks += f" CPU: {cpu_name()}; bf16 in hardware: {cpu_bf16_unit()}."
    return rows, peaks
