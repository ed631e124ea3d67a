"""Train a model on a dataset and report its test error (top-1, top-5)."""

from __future__ import annotations

from landmarks.data.loaders import to_device
from landmarks.metrics import at_chance
from landmarks.models import count_parameters, create_model
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.engine import fit
from landmarks.train.seeding import seed_everything


@register_task("classify")
def classify(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    recipe, claim, dataset = run.recipe, run.claim, run.landmark.dataset
    splits = ctx.splits(dataset)
    fast = recipe.fast and ctx.device.type == "cuda"
    key = f"device:{dataset}:{recipe.val_fraction}:{recipe.normalize}:{fast}"
    if key not in ctx.cache:
        ctx.cache[key] = to_device(splits, recipe.val_fraction, recipe.normalize, ctx.device, float_train=not fast)
    data = ctx.cache[key]
    generator = seed_everything(run.seed)
    model = create_model(claim.model, data.in_shape, data.num_classes, **claim.model_args).to(ctx.device)
    result = fit(model, data, recipe, generator, on_epoch=control.on_epoch, checkpoint=control.checkpoint,
                 resume=control.resume, stop=control.stop)
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
