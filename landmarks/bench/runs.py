"""Runs per hour of long CPU profiles: independent runs side by side (a seed per process, the cores
split between them) against one process with every core, and LeCun 1998's one-sample SDLM step
compiled whole against eager, each at its profile's recipe, in one run.

    landmarks bench runs                    # 1 process x all cores, then one process per core
    landmarks bench runs --procs 1,2,4 --models lenet5-1998-compiled,resnet20

Each case is a catalog claim at a profile's recipe, its step the engine's own (`landmarks plan`'s
timed step: `Trainer` on synthetic images of the dataset's shape held in memory). For P processes
the cores are split, T = cores / P threads each; the processes start together, warm up apart
(compiling, where the recipe compiles), meet at a barrier and time their steps at the same time.
Runs per hour = P x 3600 / (a run's optimizer steps x the mean step time), the steps taken from
the recipe (20 passes of 60,000 one-sample steps for LeCun's nets, 64,000 for ResNet-20); the
evaluation after each pass is left out, the same for every layout.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import statistics
from pathlib import Path

import torch

# name -> (landmark, claim, profile, recipe fields changed)
CASES = {
    "lenet5-1998-eager": ("lecun1998-mnist", "LeNet-5", "paper", {"compile": False}),
    "lenet5-1998-compiled": ("lecun1998-mnist", "LeNet-5", "paper", {"compile": True}),
    "mlp300-1998-eager": ("lecun1998-mnist", "2-layer NN, 300 HU, MSE", "paper", {"compile": False}),
    "mlp300-1998-compiled": ("lecun1998-mnist", "2-layer NN, 300 HU, MSE", "paper", {"compile": True}),
    # the paper profile asks bf16, emulated on CPUs without bf16 units: the CPU profile's step
    "resnet20": ("he2016-fig6-plain-vs-residual", "ResNet-20", "cifar-cpu", {"max_steps": 64_000, "epochs": 200}),
}


def _case(name: str, catalog_dir: Path):
    from landmarks.catalog import get_landmark, load_catalog, resolve_recipe
    from landmarks.data.registry import DATASETS
    from landmarks.plan.estimate import run_steps

    landmark, claim_name, profile, fields = CASES[name]
    lm = get_landmark(load_catalog(catalog_dir), landmark)
    claim = next(c for c in lm.claims_for(profile) if c.name == claim_name)
    recipe = resolve_recipe(lm, claim, profile).model_copy(update=fields)
    spec = DATASETS.get(lm.dataset)
    steps, _, _ = run_steps(recipe, spec.train_images)
    return claim, recipe, spec, steps


def worker(name: str, threads: int, catalog_dir: str, steps: int, barrier, results) -> None:
    """One process of a layout: its step timed once every process of the layout is warm."""
    from landmarks.plan.timing import time_step

    torch.set_num_threads(threads)
    claim, recipe, spec, _ = _case(name, Path(catalog_dir))
    t = time_step(claim, recipe, spec.shape, spec.num_classes, torch.device("cpu"), steps=steps, ready=barrier.wait)
    results.put(t.ms_per_step)


def layout(name: str, procs: int, threads: int, catalog_dir: Path, steps: int) -> list[float]:
    """ms per step of each of `procs` processes timed side by side."""
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(procs), ctx.Queue()
    workers = [ctx.Process(target=worker, args=(name, threads, str(catalog_dir), steps, barrier, results))
               for _ in range(procs)]
    for w in workers:
        w.start()
    times = [results.get(timeout=1800) for _ in workers]
    for w in workers:
        w.join()
    if any(w.exitcode for w in workers):
        raise RuntimeError(f"bench runs: a process of {name} x{procs} failed (exit {[w.exitcode for w in workers]})")
    return times


def run(names: list[str], procs: list[int], catalog_dir: Path, steps: int = 200) -> list[dict]:
    """One row per (case, process count): each process's step, the run's steps, runs per hour."""
    cores = os.cpu_count() or 1
    rows = []
    for name in names:
        run_steps = _case(name, catalog_dir)[3]
        first = None
        for p in procs:
            threads = max(1, cores // p)
            ms = statistics.mean(layout(name, p, threads, catalog_dir, steps))
            per_hour = p * 3600.0 / (run_steps * ms / 1000.0)
            first = first or per_hour
            rows.append({"case": name, "processes": p, "threads each": threads, "ms/step": round(ms, 3),
                         "steps/run": run_steps, "runs/hour": round(per_hour, 3),
                         "vs first layout": round(per_hour / first, 2)})
    return rows
