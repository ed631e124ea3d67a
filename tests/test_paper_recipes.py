"""The recipe options the papers' recipes need: a rising, dampened momentum (Srivastava et al.
2014), an exponential rate decay, a held-out tail of the training file and N(0, sigma) weights
(Simard et al. 2003), and a learning rate chosen on a validation split."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
import yaml
from pydantic import ValidationError

from landmarks.catalog import load_catalog
from landmarks.data.loaders import VAL_SPLIT_SEED, split_validation
from landmarks.models import create_model
from landmarks.train.recipe import Recipe, Schedule
from landmarks.train.schedules import lr_factor
from landmarks.train.seeding import seed_everything
from landmarks.train.trainer import Trainer


def test_momentum_rises_linearly_then_holds():
    r = Recipe(momentum=0.95, momentum_start=0.5, momentum_ramp_epochs=10)
    assert r.momentum_at(0) == 0.5
    assert r.momentum_at(5) == pytest.approx(0.725)
    assert r.momentum_at(10) == r.momentum_at(400) == 0.95
    assert Recipe(momentum=0.9).momentum_at(0) == 0.9


@pytest.mark.parametrize("fields, words", [
    ({"momentum_start": 0.5}, "momentum_start and momentum_ramp_epochs go together"),
    ({"momentum_ramp_epochs": 5}, "momentum_start and momentum_ramp_epochs go together"),
    ({"dampened": True, "nesterov": True, "momentum": 0.9}, "dampened momentum and nesterov"),
    ({"lr_search": {"grid": (0.1,)}}, "at least 2"),
])
def test_inconsistent_momentum_or_search_is_refused(fields, words):
    with pytest.raises(ValidationError, match=words):
        Recipe(**fields)


def test_exponential_schedule_multiplies_once_per_epoch():
    f = lr_factor(Schedule(kind="exponential", gamma=0.5), steps_per_epoch=10)
    assert [f(s) for s in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    per_step = lr_factor(Schedule(kind="exponential", gamma=0.9, unit="step"), steps_per_epoch=10)
    assert per_step(3) == pytest.approx(0.9 ** 3)


def test_dampened_ramped_momentum_is_the_hinton_update(digits):
    """v <- p v + (1 - p) g ; w <- w - lr v, with p rising each step (the first step starts v at g,
    as PyTorch's SGD does)."""
    data = digits(0.0, "standard")
    recipe = Recipe(lr=0.5, momentum=0.9, momentum_start=0.5, momentum_ramp_epochs=1, dampened=True,
                    batch_size=200, epochs=1)
    seed_everything(0)
    model = create_model("linear", data.in_shape, data.num_classes)
    w0 = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer.on_device(model, data, recipe, torch.Generator().manual_seed(0))
    losses, wrong = trainer.buffers()
    batches = [torch.arange(i * 200, (i + 1) * 200) for i in range(3)]
    for b, idx in enumerate(batches):
        trainer.step(trainer.source.batch(idx, b), b, losses, wrong)
    # the same three steps by hand
    ref = create_model("linear", data.in_shape, data.num_classes)
    with torch.no_grad():
        for p, w in zip(ref.parameters(), w0):
            p.copy_(w)
    v = None
    for step, idx in enumerate(batches):
        ref.zero_grad()
        torch.nn.functional.cross_entropy(ref(data.x_train[idx]), data.y_train[idx]).backward()
        p_t = recipe.momentum_at(step / trainer.steps_per_epoch)
        g = [p.grad.detach().clone() for p in ref.parameters()]
        v = g if v is None else [p_t * vi + (1 - p_t) * gi for vi, gi in zip(v, g)]
        with torch.no_grad():
            for p, vi in zip(ref.parameters(), v):
                p -= recipe.lr * vi
    assert trainer.optimizer.param_groups[0]["momentum"] == pytest.approx(recipe.momentum_at(2 / trainer.steps_per_epoch))
    for got, want in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_validation_split_random_is_unchanged_and_last_is_the_tail():
    n, frac = 1000, 0.1
    tr, va = split_validation(n, frac)
    perm = np.random.default_rng(VAL_SPLIT_SEED).permutation(n)  # the split every stored run used
    assert set(va) == set(perm[:100]) and set(tr) == set(perm[100:])
    tr, va = split_validation(60000, 1 / 6, "last")
    assert (va == np.arange(50000, 60000)).all() and (tr == np.arange(50000)).all()


def test_mlp_weights_drawn_with_the_given_sigma():
    torch.manual_seed(0)
    m = create_model("mlp", (1, 28, 28), 10, hidden=[800], activation="sigmoid", init_std=0.05)
    linears = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
    assert float(linears[0].weight.detach().std()) == pytest.approx(0.05, rel=0.02)
    assert all(float(x.bias.detach().abs().max()) == 0.0 for x in linears)


def _search_landmark(catalog_dir, grid):
    path = catalog_dir / "digits-linear-mlp-cnn.yaml"
    data = yaml.safe_load(path.read_text())
    data["recipe"].update(epochs=2, lr_search={"grid": grid, "epochs": 2, "val_fraction": 0.2})
    data["profiles"]["quick"] = {"seeds": [0, 1], "claims": ["mlp 64x100"]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_catalog(catalog_dir)["digits-linear-mlp-cnn"]


def test_lr_search_chooses_on_validation_and_every_seed_uses_it(catalog_dir, digits_dir, train, tmp_path, caplog):
    lm = _search_landmark(catalog_dir, [1000.0, 0.05, 1e-5])
    caplog.set_level(logging.INFO, logger="landmarks")
    doc = train(lm, "quick", tmp_path / "out", data_dir=digits_dir)
    runs = doc["runs"]
    # 1000 diverges and 1e-5 barely moves in two epochs: 0.05 wins, for both seeds
    assert [r["info.lr"] for r in runs] == [0.05, 0.05]
    errors = runs[0]["info.lr_search"]
    assert errors["1000.0"] == float("inf") and errors["0.05"] < errors["1e-05"]
    assert sum("lr search: lr" in m for m in caplog.messages) == 3  # searched once, not per seed
    history = (tmp_path / "out" / "history.csv").read_text().splitlines()
    assert history[1].split(",")[history[0].split(",").index("lr")] == "0.05"  # trained at the choice
    assert doc["recipes"]["mlp 64x100"]["lr_search"]["grid"] == [1000.0, 0.05, 1e-5]


def test_lr_search_is_kept_for_a_resumed_stage(catalog_dir, digits_dir, tmp_path):
    from landmarks.catalog import resolve_recipe
    from landmarks.tasks import RunControl, RunSpec, StageContext
    from landmarks.tasks.classify import classify

    lm = _search_landmark(catalog_dir, [0.05, 0.01])
    claim = lm.claim("mlp 64x100")
    spec = RunSpec(lm, claim, resolve_recipe(lm, claim, "quick"), 0, "quick")
    state = tmp_path / "state"
    first = classify(spec, StageContext(torch.device("cpu"), digits_dir, state_dir=state), RunControl())
    (saved,) = state.glob("lr-search-*.json")
    doc = json.loads(saved.read_text())
    # a later process trusts the stored choice (here edited, so its use shows)
    doc["choice"]["lr"] = 0.01 if first.info["lr"] == 0.05 else 0.05
    saved.write_text(json.dumps(doc))
    again = classify(spec, StageContext(torch.device("cpu"), digits_dir, state_dir=state), RunControl())
    assert again.info["lr"] == doc["choice"]["lr"]
    # a changed recipe does not take a stale choice
    spec2 = RunSpec(lm, claim, spec.recipe.model_copy(update={"batch_size": 16}), 0, "quick")
    third = classify(spec2, StageContext(torch.device("cpu"), digits_dir, state_dir=state), RunControl())
    assert third.info["lr"] == first.info["lr"]


def test_paper_profiles_run_the_papers_recipes(root):
    cat = load_catalog(root / "benchmarks")
    from landmarks.catalog import resolve_recipe

    simard = cat["simard2003-mnist"]
    for claim in simard.claims_for("paper"):
        r = resolve_recipe(simard, claim, "paper")
        assert (r.lr, r.momentum, r.weight_decay, r.schedule.kind, r.schedule.step_size, r.schedule.gamma) == \
            (0.005, 0.0, 0.0, "step", 100, 0.3)
        assert r.val_split == "last" and round(60000 * r.val_fraction) == 10000 and r.precision == "fp32"
        assert claim.model_args["activation"] == "sigmoid" and claim.model_args["init_std"] == 0.05
    assert simard.budget("paper") == "paper"
    sri = cat["srivastava2014-dropout-mnist"]
    r = resolve_recipe(sri, sri.claim("dropout + max-norm, ReLU, 3x1024"), "paper")
    assert (r.max_norm, r.momentum, r.dampened, r.momentum_start) == (2.0, 0.95, True, 0.5)
    assert r.lr_search is not None and r.precision == "fp32"
