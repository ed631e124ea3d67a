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
from landmarks.models import count_parameters, create_model
from landmarks.tasks.fitting import lr_choice, run_result
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.image_recipe import ImageRecipe
from landmarks.train.loop import fit
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.sources.images import ImageBatches, ImageSets, evaluate_images
from landmarks.train.trainer import Trainer

WEIGHTS_ENV = "LANDMARKS_WEIGHTS"


def _pick(split: Split, idx) -> Split:
    return Split(tuple(split.files[i] for i in idx), tuple(split.labels[i] for i in idx))


# recipe fields that need the dataset resident on the device, each with the reason the image
# source cannot honour it; set, they would be ignored silently, so they are refused
DEVICE_ONLY = {
    "augment": "its images are cropped, flipped and coloured by recipe.images (crops, pca_lighting)",
    "normalize": "its images are normalised by recipe.images.normalize",
    "fast": "the CUDA graph step gathers its batches from data held whole on the device",
}


def device_only(recipe: Recipe) -> tuple[str, str] | None:
    """(field, why) for the first recipe field set that the image source cannot honour, else None."""
    defaults = Recipe()
    for name, why in DEVICE_ONLY.items():
        if getattr(recipe, name) != getattr(defaults, name):
            return name, f"the task classify-images does not use {name}: {why}; remove it"
    return None


@register_task("classify-images", check_recipe=device_only)
def classify_images(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    recipe, claim = run.recipe, run.claim
    index = ctx.images(run.landmark.dataset)
    images = recipe.images or ImageRecipe()
    world = ctx.run_world(recipe)

    def sets_for(val_fraction: float) -> ImageSets:
        tr, va = split_validation(len(index.train.files), val_fraction, recipe.val_split)
        return ImageSets(index.root, _pick(index.train, tr), _pick(index.train, va), index.val, index.num_classes)

    shape = (3, images.size, images.size)
    search = None
    if recipe.lr_search is not None:
        held = sets_for(recipe.lr_search.val_fraction)
        search = lr_choice(run, ctx, index.content_hash, shape, index.num_classes,
                           lambda trial, generator: ImageBatches(held, trial, recipe.lr_search.seed, ctx.device, world))
        recipe = recipe.model_copy(update={"lr": search["lr"]})
    seed_everything(run.seed)
    model = create_model(claim.model, shape, index.num_classes, **claim.model_args).to(ctx.device)
    source = ImageBatches(sets_for(recipe.val_fraction), recipe, run.seed, ctx.device, world)
    result = fit(Trainer(model, source, recipe, control.checkpoint, control.stop, world=world), control.on_epoch,
                 control.resume)
    return run_result(result, recipe, model, search, ctx.device, index.num_classes, {
        "parameters": count_parameters(model), "data_hash": index.content_hash, "data_subset": index.subset,
        "eval_crops": images.eval_crops})


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
