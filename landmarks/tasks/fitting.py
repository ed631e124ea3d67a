"""What the tasks that train through the loop share: the learning-rate choice made once per stage,
and a finished fit turned into the run's metrics and details."""

from __future__ import annotations

import json
import math
from typing import Callable

import torch

from landmarks.files import write_atomic
from landmarks.metrics import at_chance
from landmarks.models import create_model
from landmarks.stats import threshold_crossing
from landmarks.tasks.registry import RunResult, RunSpec, StageContext
from landmarks.train.lr_search import search_lr
from landmarks.train.precision import resolve_precision
from landmarks.train.recipe import Recipe
from landmarks.train.state import FitResult


def run_result(result: FitResult, recipe: Recipe, model: torch.nn.Module, search: dict | None,
               device: torch.device, num_classes: int, info: dict) -> RunResult:
    """The run's metrics (the selected model's test errors, the last epoch's training error, the
    epoch a threshold was reached) and details (`info` first)."""
    metrics = {"top1_error": result.test["top1_error"], "top5_error": result.test["top5_error"],
               "train_error": result.history[-1]["train_error"]}
    if recipe.threshold:
        crossed = threshold_crossing([(h["epoch"], h["train_error"]) for h in result.history], recipe.threshold)
        # never reached: censored (NaN), counted apart by the report rather than given a made-up epoch
        metrics["epochs_to_threshold"] = math.nan if crossed is None else crossed
    return RunResult(
        metrics=metrics,
        # the mid-epoch points among the epochs' rows, in the order of the steps (curves against iterations)
        history=sorted(result.history + result.points, key=lambda h: h["step"]) if result.points else result.history,
        info={
            **info,
            "selected_epoch": result.selected_epoch,
            "epochs_run": len(result.history),
            "steps": result.steps,
            "train_seconds": result.seconds,
            "at_chance": at_chance(result.test["top1_error"], num_classes),
            **({"lr": search["lr"], "lr_search": search["val_error"]} if search else {}),
            "precision": resolve_precision(recipe.precision, device),
        },
        model=model,
    )


def lr_choice(run: RunSpec, ctx: StageContext, data_hash: str, in_shape: tuple[int, ...], num_classes: int,
              source_for: Callable) -> dict:
    """The claim's learning rate from its recipe's search: made once per stage, kept in the stage's
    working folder so every seed, and a resumed stage, trains with the same choice.
    `source_for(recipe, generator)` gives a batch source whose validation split is the search's."""
    recipe, claim = run.recipe, run.claim
    identity = {"claim": claim.name, "model_args": dict(claim.model_args),
                "recipe": recipe.model_dump(mode="json"), "data_hash": data_hash}
    key = "lr_search:" + json.dumps(identity, sort_keys=True, default=str)
    if key in ctx.cache:
        return ctx.cache[key]
    path = None
    if ctx.state_dir is not None:
        path = ctx.state_dir / f"lr-search-{claim.file_name}.json"
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("identity") == json.loads(json.dumps(identity, default=str)):
                ctx.cache[key] = saved["choice"]
                return saved["choice"]

    def build():
        return create_model(claim.model, in_shape, num_classes, **claim.model_args).to(ctx.device)

    choice = search_lr(build, source_for, recipe)
    if path is not None:
        write_atomic(path, json.dumps({"identity": identity, "choice": choice}, indent=1, default=str) + "\n")
    ctx.cache[key] = choice
    return choice
