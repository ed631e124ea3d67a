"""Train a model on a dataset and report its test error (top-1, top-5)."""

from __future__ import annotations

import json
import re

from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits
from landmarks.files import write_atomic
from landmarks.metrics import at_chance
from landmarks.models import count_parameters, create_model
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.engine import fit
from landmarks.train.lr_search import search_lr
from landmarks.train.precision import resolve_precision
from landmarks.train.seeding import seed_everything


@register_task("classify")
def classify(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    recipe, claim, dataset = run.recipe, run.claim, run.landmark.dataset
    splits = ctx.splits(dataset)
    fast = recipe.fast and ctx.device.type == "cuda"
    key = f"device:{dataset}:{recipe.val_fraction}:{recipe.val_split}:{recipe.normalize}:{fast}"
    if key not in ctx.cache:
        ctx.cache[key] = to_device(splits, recipe.val_fraction, recipe.normalize, ctx.device, float_train=not fast,
                                   val_split=recipe.val_split)
    data = ctx.cache[key]
    search = None
    if recipe.lr_search is not None:
        search = _lr_choice(run, ctx, splits)
        recipe = recipe.model_copy(update={"lr": search["lr"]})
    generator = seed_everything(run.seed)
    model = create_model(claim.model, data.in_shape, data.num_classes, **claim.model_args).to(ctx.device)
    result = fit(model, data, recipe, generator, on_epoch=control.on_epoch, checkpoint=control.checkpoint,
                 resume=control.resume, stop=control.stop, world=ctx.run_world(recipe))
    metrics = {"top1_error": result.test["top1_error"], "top5_error": result.test["top5_error"],
               "train_error": result.history[-1]["train_error"]}
    if recipe.threshold:
        hit = [h["epoch"] for h in result.history if h["train_error"] <= recipe.threshold]
        # never reached: one more than the epochs run, so the run still counts (and loses)
        metrics["epochs_to_threshold"] = float(hit[0] if hit else len(result.history) + 1)
    return RunResult(
        metrics=metrics,
        history=result.history,
        info={
            "parameters": count_parameters(model),
            "data_hash": splits.content_hash,
            "selected_epoch": result.selected_epoch,
            "epochs_run": len(result.history),
            "steps": result.steps,
            "train_seconds": result.seconds,
            "at_chance": at_chance(result.test["top1_error"], data.num_classes),
            **({"lr": search["lr"], "lr_search": search["val_error"]} if search else {}),
            "precision": resolve_precision(recipe.precision, ctx.device),
        },
        model=model,
    )


def _lr_choice(run: RunSpec, ctx: StageContext, splits: Splits) -> dict:
    """The claim's learning rate from its recipe's search: made once per stage, kept in the stage's
    working folder so every seed, and a resumed stage, trains with the same choice."""
    recipe, claim = run.recipe, run.claim
    identity = {"claim": claim.name, "model_args": dict(claim.model_args),
                "recipe": recipe.model_dump(mode="json"), "data_hash": splits.content_hash}
    key = "lr_search:" + json.dumps(identity, sort_keys=True, default=str)
    if key in ctx.cache:
        return ctx.cache[key]
    path = None
    if ctx.state_dir is not None:
        path = ctx.state_dir / f"lr-search-{re.sub(r'[^A-Za-z0-9._-]+', '_', claim.name).strip('_')}.json"
        if path.exists():
            saved = json.loads(path.read_text())
            if saved.get("identity") == json.loads(json.dumps(identity, default=str)):
                ctx.cache[key] = saved["choice"]
                return saved["choice"]
    data = to_device(splits, recipe.lr_search.val_fraction, recipe.normalize, ctx.device, val_split=recipe.val_split)

    def build():
        return create_model(claim.model, data.in_shape, data.num_classes, **claim.model_args).to(ctx.device)

    choice = search_lr(build, data, recipe)
    if path is not None:
        write_atomic(path, json.dumps({"identity": identity, "choice": choice}, indent=1, default=str) + "\n")
    ctx.cache[key] = choice
    return choice
