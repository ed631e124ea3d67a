"""Several seeds of a one-sample SDLM run stepped at once (their parameters stacked, one vmapped
step) against the same seeds stepped one after another by the engine's compiled step, in one run.

    landmarks bench seeds                                  # LeNet-5 and the 300-unit MLP of 1998
    landmarks bench seeds --models lenet5-1998 --stack 2,4,8

A one-sample step is bound by per-step overhead, not arithmetic, so stepping K seeds together
could cost little more than one. Both paths compile the whole step (forward, gradient, the update
w <- w - eta / (mu + h) g) with torch.compile; the stacked one maps the single-seed step over K
stacked parameter sets and K samples with `torch.func.vmap` (each seed its own initialisation,
sample and curvature), the separate one is `CompiledSDLMStep` once per seed. The paths take
turns, each figure is the median of the rounds, and `max |diff|` is the largest difference
between the two paths' parameters after their first step, from the same start and sample: the
paths compute the same thing, to float rounding. Runs per hour: K x 3600 / (1,200,000 steps of
a run, 20 passes of 60,000, x the ms of K steps); the passes' evaluations are left out of both.
"""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from landmarks.models import create_model
from landmarks.train.compile import compiled
from landmarks.train.losses import compute_loss
from landmarks.train.sdlm import SDLM
from landmarks.train.steps.compiled_sdlm import CompiledSDLMStep

# name -> (model, model args, criterion): the paper profile's nets
MODELS = {
    "lenet5-1998": ("lenet5-1998", {}, "rbf_map"),
    "mlp300-1998": ("mlp-1998", {"hidden": [300]}, "mse_pm1"),
}
SHAPE, CLASSES, RUN_STEPS = (1, 28, 28), 10, 20 * 60_000
LR, MU = 0.0005, 0.02


class StackedSDLMStep:
    """K copies of `models[0]`'s architecture with the K models' weights, stepped together:
    `step(x, y)` with x of shape (K, *sample) and y (K,) gives each seed one SDLM update on its
    own sample, at `rates[k]` (one dict per seed, parameter name -> eta-free rate 1 / (mu + h))."""

    def __init__(self, models: list[nn.Module], rates: list[dict[str, torch.Tensor]], criterion: str, lr: float,
                 compile: bool = True) -> None:
        params, buffers = stack_module_state(models)
        self.params = {n: v.detach() for n, v in params.items()}
        self.buffers = buffers
        self.rates = {n: torch.stack([r[n] for r in rates]) for n in params}
        self.lr = torch.tensor(lr)
        skeleton = copy.deepcopy(models[0]).to("meta")

        def loss(p, b, x, y):
            return compute_loss(functional_call(skeleton, (p, b), (x[None],)), y[None], criterion)

        grads = vmap(grad_and_value(loss), in_dims=(0, 0, 0, 0))

        def step(p, b, r, lr, x, y):
            g, value = grads(p, b, x, y)
            with torch.no_grad():
                for n in p:
                    p[n].sub_(lr * r[n] * g[n])
            return value

        self._step = compiled(step) if compile else step

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._step(self.params, self.buffers, self.rates, self.lr, x, y)


def _seeds(name: str, k: int) -> tuple[list[nn.Module], list[SDLM], str]:
    model, args, criterion = MODELS[name]
    models, optimizers = [], []
    probe = torch.Generator().manual_seed(12345)
    x = torch.randn(64, *SHAPE, generator=probe)
    y = torch.randint(0, CLASSES, (64,), generator=probe)
    for seed in range(k):
        torch.manual_seed(seed)
        m = create_model(model, SHAPE, CLASSES, **args)
        opt = SDLM(m.parameters(), lr=LR, mu=MU)
        opt.estimate_curvature(m, x, y, lambda o, t: compute_loss(o, t, criterion))
        models.append(m)
        optimizers.append(opt)
    return models, optimizers, criterion


def compare(name: str, k: int, steps: int, repeats: int) -> dict:
    """One row: K seeds stepped separately and stacked, timed in turns, and how far apart they end."""
    models, optimizers, criterion = _seeds(name, k)
    stacked_from = [copy.deepcopy(m) for m in models]  # the stacked path starts where the separate one does
    separate = [CompiledSDLMStep(m, opt, lambda o, t: compute_loss(o, t, criterion)) for m, opt in zip(models, optimizers)]
    rates = [{n: opt.state[p]["rate"] for n, p in m.named_parameters()} for m, opt in zip(models, optimizers)]
    stacked = StackedSDLMStep(stacked_from, rates, criterion, LR)
    data = torch.Generator().manual_seed(0)
    xs = torch.randn(steps, k, *SHAPE, generator=data)
    ys = torch.randint(0, CLASSES, (steps, k), generator=data)

    def run_separate(i: int) -> None:
        for s, step in enumerate(separate):
            step(xs[i, s:s + 1], ys[i, s:s + 1])

    def run_stacked(i: int) -> None:
        stacked(xs[i], ys[i])

    for run in (run_separate, run_stacked):  # warm-up (compiling): one step from the same start and sample
        run(0)
    # compared after that one step: over many steps the one-sample dynamics amplify float rounding
    # (LeNet-5 on synthetic images: 3e-8 after one step, 2e-3 after 30), whatever the two paths share
    diff = max(float((stacked.params[n][s] - p.detach()).abs().max())
               for s, m in enumerate(models) for n, p in m.named_parameters())
    times: dict[str, list[float]] = {"separate": [], "stacked": []}
    per_round = max(1, (steps - 1) // repeats)
    for r in range(repeats):
        for label, run in (("separate", run_separate), ("stacked", run_stacked)):
            t0 = time.perf_counter()
            for i in range(1 + r * per_round, 1 + (r + 1) * per_round):
                run(i)
            times[label].append((time.perf_counter() - t0) * 1000 / per_round)
    sep, stk = statistics.median(times["separate"]), statistics.median(times["stacked"])
    return {"model": name, "seeds": k, "separate ms (K steps)": round(sep, 3), "stacked ms (K steps)": round(stk, 3),
            "speed-up": round(sep / stk, 2), "runs/hour separate": round(k * 3600 / (RUN_STEPS * sep / 1000), 3),
            "runs/hour stacked": round(k * 3600 / (RUN_STEPS * stk / 1000), 3), "max |diff| (1 step)": f"{diff:.1e}"}


def run(names: list[str], stacks: list[int], steps: int, repeats: int) -> list[dict]:
    return [compare(name, k, steps, repeats) for name in names for k in stacks]
