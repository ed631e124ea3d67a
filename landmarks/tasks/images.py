"""Tasks on image-folder datasets (ImageNet): train a model and report its top-1/top-5 error, or
check published torchvision weights on the user's validation set.

`classify-images` holds `val_fraction` of the training images out for recipe choices and reports
on the dataset's validation split (ILSVRC-2012's 50,000 images: the papers' "val").

`torchvision-weights` evaluates the weights a claim names in `data_args.weights`
("ResNet50_Weights.IMAGENET1K_V1") with torchvision's own evaluation transform for them. Nothing
is downloaded: the file comes from `data_args.weights_file`, else LANDMARKS_WEIGHTS (a folder),
else torchvision's cache (`$TORCH_HOME/hub/checkpoints`); a file found under its published name
must match the hash prefix in that name, as torch.hub checks it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from landmarks.data.content import file_digest
from landmarks.data.imagenet import Split
from landmarks.data.loaders import split_validation
from landmarks.errors import ConfigError, DataError
from landmarks.metrics import at_chance
from landmarks.models import count_parameters, create_model
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.image_fit import ImageSets, evaluate_images, fit_images
from landmarks.train.image_recipe import ImageRecipe
from landmarks.train.precision import resolve_precision
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything

WEIGHTS_ENV = "LANDMARKS_WEIGHTS"


def _pick(split: Split, idx) -> Split:
    return Split(tuple(split.files[i] for i in idx), tuple(split.labels[i] for i in idx))


# recipe fields of the device-resident engine that the image loop does not implement: set, they
# would be ignored silently, so they are refused
ENGINE_ONLY = ("lr_search", "augment", "normalize", "threshold", "stop_at_threshold", "early_stopping_patience",
               "fast", "compile", "max_norm", "momentum_start", "dampened")


def engine_only(recipe: Recipe) -> tuple[str, str] | None:
    """(field, why) for the first recipe field set that the image loop would ignore, else None."""
    defaults = Recipe()
    odd = [f for f in ENGINE_ONLY if getattr(recipe, f) != getattr(defaults, f)]
    odd += ["optimizer"] if recipe.optimizer != "sgd" else []
    if not odd:
        return None
    return odd[0], (f"the task classify-images does not use {', '.join(odd)} (its images are augmented and "
                    "normalised by recipe.images); remove them")


@register_task("classify-images", check_recipe=engine_only)
def classify_images(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    recipe, claim = run.recipe, run.claim
    index = ctx.images(run.landmark.dataset)
    images = recipe.images or ImageRecipe()
    tr, va = split_validation(len(index.train.files), recipe.val_fraction, recipe.val_split)
    sets = ImageSets(index.root, _pick(index.train, tr), _pick(index.train, va), index.val, index.num_classes)
    seed_everything(run.seed)
    model = create_model(claim.model, (3, images.size, images.size), index.num_classes, **claim.model_args)
    model = model.to(ctx.device)
    result = fit_images(model, sets, recipe, run.seed, ctx.device, on_epoch=control.on_epoch,
                        checkpoint=control.checkpoint, resume=control.resume, stop=control.stop,
                        world=ctx.run_world(recipe))
    return RunResult(
        metrics={"top1_error": result.test["top1_error"], "top5_error": result.test["top5_error"],
                 "train_error": result.history[-1]["train_error"]},
        history=result.history,
        info={"parameters": count_parameters(model), "data_hash": index.content_hash, "data_subset": index.subset,
              "eval_crops": images.eval_crops, "selected_epoch": result.selected_epoch,
              "epochs_run": len(result.history), "steps": result.steps, "train_seconds": result.seconds,
              "at_chance": at_chance(result.test["top1_error"], index.num_classes),
              "precision": resolve_precision(recipe.precision, ctx.device)},
        model=model,
    )


def published_weights(name: str):
    """torchvision's weights enum entry for a name such as "ResNet50_Weights.IMAGENET1K_V1"."""
    from torchvision.models import get_weight

    try:
        return get_weight(name)
    except (ValueError, KeyError, AttributeError) as exc:
        raise ConfigError(f"data_args.weights: {name!r} is not a torchvision weights name (e.g. "
                          f"'ResNet50_Weights.IMAGENET1K_V1'): {exc}") from None


def weights_file(weights, given: str = "") -> tuple[Path, bool]:
    """(the weights file, whether it must match the published name's hash prefix)."""
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise DataError(f"data_args.weights_file: {path}: no such file")
        return path, False
    published = weights.url.rsplit("/", 1)[-1]
    folders = [Path(os.environ[WEIGHTS_ENV]).expanduser()] if os.environ.get(WEIGHTS_ENV) else []
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    for folder in folders:
        if (folder / published).is_file():
            return folder / published, True
    raise DataError(f"{published}: not found in {' or '.join(map(str, folders))}; nothing is downloaded here: fetch "
                    f"{weights.url} where a network is available and put it in one of those folders "
                    f"(or set {WEIGHTS_ENV} to the folder that holds it)")


@register_task("torchvision-weights")
def torchvision_weights(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    claim = run.claim
    if "weights" not in claim.data_args:
        raise ConfigError(f"{run.landmark.path}: claim {claim.name!r}: field 'data_args.weights' is missing: name the "
                          "published weights, e.g. ResNet50_Weights.IMAGENET1K_V1")
    weights = published_weights(str(claim.data_args["weights"]))
    path, check_name = weights_file(weights, str(claim.data_args.get("weights_file", "")))
    digest = file_digest(path, "sha256")
    # torch.hub's rule: the hex digits after the last "-" of a published name begin its sha256
    named = re.search(r"-([a-f0-9]+)\.", path.name)
    prefix = named.group(1) if named else ""
    if check_name and prefix and not digest.startswith(prefix):
        raise DataError(f"{path}: its sha256 begins {digest[:len(prefix)]}, not {prefix} as its published name says: "
                        "a partial or different file; delete it and fetch it again")
    index = ctx.images(run.landmark.dataset)
    categories = len(weights.meta["categories"])
    if index.num_classes != categories:
        # the labels are positions in the user's class list: they mean the weights' classes only
        # when the list is the whole of ImageNet-1K
        raise DataError(f"{index.root}: {index.num_classes} classes, but {weights} predicts {categories}: published "
                        "weights are checked on the full ILSVRC-2012 validation set, not on a subset")
    model = create_model(claim.model, (3, 224, 224), categories, **claim.model_args)
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError) as exc:
        raise DataError(f"{path}: not the weights of {claim.model}: {str(exc).splitlines()[0]}") from None
    model = model.to(ctx.device)
    images = run.recipe.images or ImageRecipe()
    world = ctx.run_world(run.recipe)
    test = evaluate_images(model, index.root, index.val, images, ctx.device, world, crops=1,
                           preset=weights.transforms())
    return RunResult(
        metrics={"top1_error": test["top1_error"], "top5_error": test["top5_error"]},
        info={"parameters": count_parameters(model), "data_hash": index.content_hash, "data_subset": index.subset,
              "weights": str(claim.data_args["weights"]), "weights_file": str(path), "weights_sha256": digest,
              "transform": str(weights.transforms()).replace("\n", " ")},
        model=None,
    )
