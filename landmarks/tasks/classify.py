"""Train a model on a dataset held on the device and report its test error (top-1, top-5)."""

from __future__ import annotations

from landmarks.data.loaders import to_device
from landmarks.data.registry import Splits
from landmarks.models import count_parameters, create_model
from landmarks.tasks.fitting import lr_choice, run_result
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.loop import fit
from landmarks.train.seeding import seed_everything
from landmarks.train.sources.device import DeviceBatches
from landmarks.train.trainer import Trainer


def _device_data(ctx: StageContext, splits: Splits, dataset: str, val_fraction: float, recipe, fast: bool):
    key = f"device:{dataset}:{val_fraction}:{recipe.val_split}:{recipe.normalize}:{fast}"
    if key not in ctx.cache:
        ctx.cache[key] = to_device(splits, val_fraction, recipe.normalize, ctx.device, float_train=not fast,
                                   val_split=recipe.val_split)
    return ctx.cache[key]


@register_task("classify")
def classify(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    recipe, claim, dataset = run.recipe, run.claim, run.landmark.dataset
    splits = ctx.splits(dataset)
    fast = recipe.fast and ctx.device.type == "cuda"
    data = _device_data(ctx, splits, dataset, recipe.val_fraction, recipe, fast)
    search = None
    if recipe.lr_search is not None:
        held: list = []  # the search's own validation split, made only when a search runs

        def search_source(trial, generator) -> DeviceBatches:
            if not held:
                held.append(to_device(splits, recipe.lr_search.val_fraction, recipe.normalize, ctx.device,
                                      val_split=recipe.val_split))
            return DeviceBatches(held[0], trial, generator)

        search = lr_choice(run, ctx, splits.content_hash, data.in_shape, data.num_classes, search_source)
        recipe = recipe.model_copy(update={"lr": search["lr"]})
    generator = seed_everything(run.seed)
    model = create_model(claim.model, data.in_shape, data.num_classes, **claim.model_args).to(ctx.device)
    world = ctx.run_world(recipe)
    trainer = Trainer(model, DeviceBatches(data, recipe, generator, world), recipe, control.checkpoint, control.stop,
                      world=world)
    result = fit(trainer, control.on_epoch, control.resume)
    return run_result(result, recipe, model, search, ctx.device, data.num_classes, {
        "parameters": count_parameters(model), "data_hash": splits.content_hash})
