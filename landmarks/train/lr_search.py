"""Choose a run's learning rate on a validation split, the way AlexNet's Figure 1 was made.

Each candidate rate trains a fresh model (same seed for all) for the search's first epochs of the
recipe, with its own validation split held out; the rate with the lowest validation error at the
end wins. A candidate whose loss becomes NaN or infinite loses. Test numbers are never read: the
search returns only validation errors.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import torch
from torch import nn

from landmarks.errors import TrainingError
from landmarks.train.loop import fit
from landmarks.train.recipe import Recipe
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

log = logging.getLogger(__name__)


def search_lr(build: Callable[[], nn.Module], source_for: Callable[[Recipe, torch.Generator], object],
              recipe: Recipe) -> dict:
    """`source_for(recipe, generator)`: a batch source whose validation split is the search's own.
    Returns {"lr": chosen, "val_error": {lr: error}}."""
    search = recipe.lr_search
    if search is None:
        raise ValueError("the recipe has no lr_search")
    errors: dict[float, float] = {}
    for lr in search.grid:
        # a trial is judged on validation only: no curve points on the test set
        trial = recipe.model_copy(update={"lr": lr, "lr_search": None, "select": "last",
                                          "early_stopping_patience": 0, "eval_every_steps": 0})
        generator = seed_everything(search.seed)
        source = source_for(trial, generator)
        trial = trial.model_copy(update={"max_steps": search.epochs * source.steps_per_epoch})
        try:
            result = fit(Trainer(build(), source, trial))
            errors[lr] = result.history[-1]["val_error"]
        except TrainingError:
            errors[lr] = math.inf
        log.info("    lr search: lr %g -> validation error %.2f%% after %d epochs", lr, errors[lr], search.epochs)
    finite = {lr: e for lr, e in errors.items() if math.isfinite(e)}
    if not finite:
        raise TrainingError(f"every learning rate of the search diverged ({', '.join(map(str, search.grid))}); "
                            "add smaller rates to recipe.lr_search.grid")
    # ties go to the larger rate: it trains faster, the search's purpose
    chosen = min(finite, key=lambda lr: (finite[lr], -lr))
    return {"lr": chosen, "val_error": {str(lr): e for lr, e in errors.items()}}
