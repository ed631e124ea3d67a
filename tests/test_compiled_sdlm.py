"""recipe.compile with optimizer sdlm: the per-sample step compiled whole trains as the eager
step does (to float rounding), and a run may switch it between sittings (execution, not recipe)."""

from __future__ import annotations

from dataclasses import replace

import torch

from landmarks.models import create_model
from landmarks.runner.merge import _same
from landmarks.train.loop import fit
from landmarks.train.recipe import EXECUTION_ONLY, Recipe, Schedule
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer

# two passes over 150 digits, one sample per update, the rate cut between them (as the paper's
# schedule does): the compiled step must read each pass's curvature and rate
RECIPE = Recipe(optimizer="sdlm", lr=0.002, batch_size=1, epochs=2, loss="mse_pm1", normalize="lecun",
                val_fraction=0.0, sdlm={"mu": 0.02, "curvature_samples": 50},
                schedule=Schedule(kind="piecewise", milestones=(1,), factors=(1.0, 0.4)))


def _train(digits, recipe: Recipe) -> tuple[Trainer, dict]:
    data = digits(0.0, "lecun")
    data = replace(data, x_train=data.x_train[:150], y_train=data.y_train[:150], x_train_u8=data.x_train_u8[:150])
    gen = seed_everything(3)
    trainer = Trainer.on_device(create_model("mlp-1998", data.in_shape, 10, hidden=[20]), data, recipe, gen)
    result = fit(trainer)
    return trainer, {"weights": {k: v.clone() for k, v in trainer.model.state_dict().items()},
                     "history": result.history}


def test_the_compiled_sdlm_step_trains_as_the_eager_one(digits):
    eager_trainer, eager = _train(digits, RECIPE)
    whole_trainer, whole = _train(digits, RECIPE.model_copy(update={"compile": True}))
    assert eager_trainer.step.whole is None and whole_trainer.step.whole is not None
    for name, w in eager["weights"].items():
        torch.testing.assert_close(whole["weights"][name], w, rtol=1e-4, atol=1e-5)
    for a, b in zip(eager["history"], whole["history"]):
        assert abs(a["train_loss"] - b["train_loss"]) < 1e-4 * max(1.0, abs(a["train_loss"]))
        assert a["lr"] == b["lr"]
    assert eager["history"][1]["lr"] < eager["history"][0]["lr"]  # the second pass ran at the cut rate
    # the tolerance tells another training apart: the same steps at a rate 10% lower
    _, other = _train(digits, RECIPE.model_copy(update={"lr": 0.0018}))
    assert not all(torch.allclose(other["weights"][n], w, rtol=1e-4, atol=1e-5) for n, w in eager["weights"].items())


def test_compile_is_how_a_run_executes_not_its_recipe():
    assert "compile" in EXECUTION_ONLY
    eager, whole = RECIPE.model_dump(mode="json"), RECIPE.model_copy(update={"compile": True}).model_dump(mode="json")
    assert _same(eager, whole)  # earlier runs' results stay when a profile starts compiling
    assert not _same(eager, RECIPE.model_copy(update={"lr": 0.001}).model_dump(mode="json"))


def test_evaluating_every_few_epochs_is_how_a_run_executes_not_its_recipe():
    """A long run may switch to fewer evaluations between sittings: its checkpoint and its finished
    result are still taken (the weights are the same, tests/test_engine.py)."""
    assert "eval_every_epochs" in EXECUTION_ONLY
    sparse = RECIPE.model_copy(update={"eval_every_epochs": 5})
    assert _same(RECIPE.model_dump(mode="json"), sparse.model_dump(mode="json"))
    dumped = sparse.model_dump(mode="json", exclude_defaults=True, exclude=set(EXECUTION_ONLY))
    assert dumped == RECIPE.model_dump(mode="json", exclude_defaults=True, exclude=set(EXECUTION_ONLY))
