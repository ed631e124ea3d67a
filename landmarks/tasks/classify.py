"""Train a model on a dataset and report its test error (top-1, top-5)."""

from __future__ import annotations

from landmarks.catalog import Claim, Landmark, Recipe
from landmarks.data import Splits
from landmarks.data.prepare import ensure_prepared
from landmarks.data.loaders import to_device
from landmarks.metrics import at_chance
from landmarks.models import count_parameters, create_model
from landmarks.tasks import RunContext, RunResult, register_task
from landmarks.train.engine import fit
from landmarks.train.seeding import seed_everything


def cached_splits(name: str, ctx: RunContext) -> Splits:
    key = f"splits:{name}"
    if key not in ctx.cache:
        ctx.cache[key] = ensure_prepared(name, ctx.data_dir, ctx.mirror)
    return ctx.cache[key]


@register_task("classify")
def classify(lm: Landmark, claim: Claim, recipe: Recipe, seed: int, ctx: RunContext) -> RunResult:
    splits = cached_splits(lm.dataset, ctx)
    fast = recipe.fast and ctx.device.type == "cuda"
    key = f"device:{lm.dataset}:{recipe.val_fraction}:{recipe.normalize}:{fast}"
    if key not in ctx.cache:
        ctx.cache[key] = to_device(splits, recipe.val_fraction, recipe.normalize, ctx.device, float_train=not fast)
    data = ctx.cache[key]
    generator = seed_everything(seed)
    model = create_model(claim.model, data.in_shape, data.num_classes, **claim.model_args).to(ctx.device)

    def show(row: dict) -> None:
        if ctx.on_epoch:
            ctx.on_epoch(row)
        if ctx.verbose:
            print(
                f"    epoch {row['epoch']:>3}: train {row['train_error']:.2f}%  "
                f"val {row['val_error']:.2f}%  test {row['test_error']:.2f}%  ({row['seconds']:.1f} s)",
                flush=True,
            )

    result = fit(model, data, recipe, generator, on_epoch=show, checkpoint=ctx.checkpoint,
                 resume=ctx.resume, stop=ctx.stop)
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
        },
        model=model,
    )
