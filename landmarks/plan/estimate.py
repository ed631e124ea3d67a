"""How long a profile takes on this machine, claim by claim, before anything trains.

    landmarks plan --profile paper --budget 8h

A claim trained by the engine on a prepared dataset (task `classify`) is timed: a few steps of its
model at its recipe (`plan.timing`), times the steps its recipe takes (epochs x batches, or
`max_steps`; an lr search's trials added), plus each epoch's evaluation and per-pass work. Early
stopping and threshold stops can only shorten a run, so those runs' times are upper bounds.
Claims of other tasks (generated data, scikit-learn estimators, published weights, ImageNet's
image folders) are not timed: where a committed report holds runs of the claim, their mean time
is given, and named as measured.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import pandas as pd

from landmarks.catalog import Claim, Landmark, resolve_recipe
from landmarks.data.prepare import MANIFEST, prepared_dir, read_manifest
from landmarks.data.registry import DATASETS
from landmarks.errors import ConfigError
from landmarks.plan.timing import StepTime
from landmarks.train.recipe import Recipe

TIMED_TASKS = ("classify",)


@dataclass(frozen=True)
class ClaimPlan:
    landmark: str
    claim: str
    model: str
    seeds: int
    steps: int | None  # optimizer steps of one run (lr search included)
    seconds: float | None  # one run
    source: str  # "timed" | "measured (N runs)" | why there is no figure
    upper_bound: bool = False  # early stopping or a threshold may end it sooner
    measured: float | None = None  # mean seconds per run in the profile's committed report, if any

    @property
    def total(self) -> float | None:
        return None if self.seconds is None else self.seconds * self.seeds


def train_images(dataset: str, data_dir: Path) -> int:
    """Training images: the prepared arrays' count, else the release's size from the registry."""
    manifest = prepared_dir(data_dir, dataset) / MANIFEST
    if manifest.exists():
        shape = read_manifest(manifest, dataset).get("arrays", {}).get("train_x", {}).get("shape")
        if shape:
            return int(shape[0])
    return DATASETS.get(dataset).train_images


def run_steps(recipe: Recipe, n_train: int) -> tuple[int, int, int]:
    """(optimizer steps, validation images evaluated, epochs) of one run on `n_train` images, an lr
    search's trials included. Each epoch also evaluates the test set, which the caller adds."""
    def one(r: Recipe, val_fraction: float) -> tuple[int, int, int]:
        n = n_train - round(n_train * val_fraction)
        per_epoch = n // r.batch_size if r.drop_last else math.ceil(n / r.batch_size)
        steps = min(r.max_steps, per_epoch * r.epochs) if r.max_steps else per_epoch * r.epochs
        epochs = math.ceil(steps / max(per_epoch, 1))
        return steps, epochs * (n_train - n), epochs

    steps, evaluated, epochs = one(recipe, recipe.val_fraction)
    search = recipe.lr_search
    if search is not None:
        trial = recipe.model_copy(update={"epochs": search.epochs, "max_steps": 0})
        s, e, k = one(trial, search.val_fraction)
        steps, evaluated, epochs = steps + s * len(search.grid), evaluated + e * len(search.grid), epochs + k * len(search.grid)
    return steps, evaluated, epochs


def _measured(results: pd.DataFrame, lm: str, claim: str) -> tuple[float | None, str]:
    rows = results[(results["landmark"] == lm) & (results["claim"] == claim)] if not results.empty else results
    if rows.empty or "seconds" not in rows:
        return None, ""
    return float(rows["seconds"].mean()), f"measured ({len(rows)} runs)"


def claim_plan(lm: Landmark, claim: Claim, profile: str, data_dir: Path, timer: Callable[..., StepTime],
               measured: pd.DataFrame) -> ClaimPlan:
    recipe = resolve_recipe(lm, claim, profile)
    seeds = len(claim.seeds(lm.profile(profile).seeds))
    upper = recipe.early_stopping_patience > 0 or recipe.stop_at_threshold
    before, source = _measured(measured, lm.id, claim.name)
    if lm.task == "dqn":
        return _dqn_plan(lm, claim, recipe, seeds, timer, before)
    if lm.task not in TIMED_TASKS or not lm.dataset:
        return ClaimPlan(lm.id, claim.name, claim.model, seeds, None, before,
                         source or f"not timed (task {lm.task}) and no run of it in a committed report",
                         measured=before)
    spec = DATASETS.get(lm.dataset)
    n_train = train_images(lm.dataset, data_dir)
    if not n_train:
        return ClaimPlan(lm.id, claim.name, claim.model, seeds, None, None,
                         f"not timed: the size of {lm.dataset} is known once it is prepared", measured=before)
    steps, evaluated, epochs = run_steps(recipe, n_train)
    t = timer(claim, recipe, spec.shape, spec.num_classes)
    # the test set after every epoch, and at each curve point of eval_every_steps
    points = (steps - 1) // recipe.eval_every_steps if recipe.eval_every_steps else 0
    evaluated += (epochs + points) * spec.test_images
    seconds = (steps * t.ms_per_step + evaluated * t.ms_per_eval_image + epochs * t.ms_per_epoch_extra) / 1000.0
    return ClaimPlan(lm.id, claim.name, claim.model, seeds, steps, seconds, "timed", upper, before)


def _dqn_plan(lm: Landmark, claim: Claim, recipe: Recipe, seeds: int, timer: Callable[..., StepTime],
              before: float | None) -> ClaimPlan:
    """A DQN run: its agent steps, and at most the evaluations' play (games cut at 5 minutes;
    most end sooner, so the figure is an upper bound)."""
    d = recipe.dqn
    t = timer(claim, recipe, (d.history, 84, 84), 0, task="dqn")
    played = (d.steps // d.eval_every * d.curve_games + d.eval_games) * d.eval_max_steps
    seconds = (d.steps * t.ms_per_step + played * t.ms_per_eval_image) / 1000.0
    return ClaimPlan(lm.id, claim.name, claim.model, seeds, d.steps, seconds, "timed", True, before)


def plan_profile(catalog: Mapping[str, Landmark], profile: str, data_dir: Path, timer: Callable[..., StepTime],
                 measured: pd.DataFrame, only: tuple[str, ...] = ()) -> list[ClaimPlan]:
    """Every claim of every landmark with `profile` (or of `only`), in catalog order."""
    plans = []
    for lm in catalog.values():
        if profile not in lm.profiles or (only and lm.id not in only):
            continue
        plans += [claim_plan(lm, c, profile, data_dir, timer, measured) for c in lm.claims_for(profile)]
    return plans


_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400,
          "days": 86400}


def parse_duration(text: str) -> float:
    """Seconds in '8h', '90m', '1.5h', '2d', '45 min', '1h30m'; a ConfigError naming the format otherwise."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text.strip().lower())
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([a-z]+)", "", text.strip().lower()).strip() or \
            any(u not in _UNITS for _, u in parts):
        raise ConfigError(f"--budget {text!r}: expected a duration such as 8h, 90m, 1h30m or 2d")
    return sum(float(n) * _UNITS[u] for n, u in parts)


def expected_seconds(text: str) -> float | None:
    """The duration a profile's free-text `expected_time` names ("about 9 hours per seed"), if any."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*(minutes?|min|hours?|h|days?)\b", text.lower())
    if not m:
        return None
    unit = m.group(2)
    return float(m.group(1)) * (60 if unit.startswith("min") else 86400 if unit.startswith("day") else 3600)


def human(seconds: float | None) -> str:
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def within_budget(plans: list[ClaimPlan], budget: float) -> list[bool]:
    """In catalog order, whether each claim's seeds are done within `budget` seconds if the
    profile runs in that order (unknown times count as 0 and are named by the caller)."""
    spent, fits = 0.0, []
    for p in plans:
        spent += p.total or 0.0
        fits.append(spent <= budget)
    return fits
