"""The training engine on real (bundled) data, on the CPU."""

import math

import pytest
import torch

from landmarks.data.loaders import split_validation
from landmarks.errors import TrainingError
from landmarks.models import create_model
from landmarks.train.loop import fit
from landmarks.train.sources.device import evaluate
from landmarks.train.recipe import Recipe, Schedule
from landmarks.train.schedules import lr_factor
from landmarks.train.seeding import seed_everything, set_deterministic
from landmarks.train.trainer import Trainer


@pytest.fixture
def train(digits):
    """train(seed, recipe, model, **model_args) -> (net, FitResult) on the prepared digits."""

    def run(seed, recipe, model="mlp", **args):
        data = digits(recipe.val_fraction)
        gen = seed_everything(seed)
        net = create_model(model, data.in_shape, data.num_classes, **args)
        return net, fit(Trainer.on_device(net, data, recipe, gen))

    return run


def test_mlp_learns_digits(train):
    recipe = Recipe(lr=0.05, momentum=0.9, epochs=4, batch_size=32)
    net, res = train(0, recipe, hidden=[64])
    assert len(res.history) == 4
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.test["top1_error"] < 10.0
    assert res.selected_epoch == 4  # "last": the final epoch is reported


def test_same_seed_same_numbers_bit_for_bit(train):
    set_deterministic(True)
    try:
        recipe = Recipe(lr=0.05, momentum=0.9, epochs=2, batch_size=64)
        a = train(3, recipe, model="cnn_small")[1]
        b = train(3, recipe, model="cnn_small")[1]
        c = train(4, recipe, model="cnn_small")[1]
    finally:
        set_deterministic(False)
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    assert strip(a.history) != strip(c.history)


def test_points_every_so_many_steps_change_no_training_step(train):
    """eval_every_steps: the test error (and the epoch's training error so far) at the steps asked,
    mid-epoch, while the weights and the epochs' rows stay those of a run without them."""
    set_deterministic(True)
    try:
        recipe = Recipe(lr=0.05, momentum=0.9, epochs=3, batch_size=64, max_steps=40)
        plain_net, plain = train(3, recipe, model="cnn_small")
        net, run = train(3, recipe.model_copy(update={"eval_every_steps": 10}), model="cnn_small")
        at_10 = train(3, recipe.model_copy(update={"max_steps": 10}), model="cnn_small")[1]
    finally:
        set_deterministic(False)
    per_epoch = plain.history[0]["step"]  # the steps of one epoch: an epoch's end has its own row
    assert [p["step"] for p in run.points] == [s for s in (10, 20, 30) if s % per_epoch]
    assert [h["step"] for h in plain.history] == [*range(per_epoch, 40, per_epoch), 40]
    assert all(torch.equal(a, b) for a, b in zip(plain_net.state_dict().values(), net.state_dict().values()))
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(run.history) == strip(plain.history)
    assert run.points[0]["test_error"] == at_10.test["top1_error"] and run.points[0]["epoch"] == 10 / per_epoch
    assert 0 <= run.points[0]["train_error"] <= 100


def test_evaluating_every_few_epochs_changes_no_training_step(train):
    """eval_every_epochs: validation and test errors after every k-th epoch and after the last;
    the weights, the training rows and the reported test error stay those of a run evaluated
    after every epoch."""
    set_deterministic(True)
    try:
        recipe = Recipe(lr=0.05, momentum=0.9, epochs=5, batch_size=64)
        plain_net, plain = train(3, recipe, model="cnn_small")
        net, run = train(3, recipe.model_copy(update={"eval_every_epochs": 2}), model="cnn_small")
        capped = train(3, recipe.model_copy(update={"eval_every_epochs": 2, "max_steps": 3 * plain.history[0]["step"]}),
                       model="cnn_small")[1]
        # a stop decided on the training error after epoch 1: that epoch is evaluated then
        stopped = train(3, recipe.model_copy(update={"eval_every_epochs": 2, "threshold": 100.0,
                                                     "stop_at_threshold": True}), model="cnn_small")[1]
    finally:
        set_deterministic(False)
    assert all(torch.equal(a, b) for a, b in zip(plain_net.state_dict().values(), net.state_dict().values()))
    assert [h["epoch"] for h in run.history if "test_error" in h] == [2, 4, 5]  # the last always
    for a, b in zip(plain.history, run.history):
        assert (a["train_loss"], a["train_error"]) == (b["train_loss"], b["train_error"])
        assert "val_error" not in b or (a["val_error"], a["test_error"]) == (b["val_error"], b["test_error"])
    assert run.test == plain.test
    # a run cut by max_steps at an odd epoch is evaluated there: its last row carries the test
    assert [h["epoch"] for h in capped.history if "test_error" in h] == [2, 3]
    assert capped.test["top1_error"] == plain.history[2]["test_error"]
    assert len(stopped.history) == 1 and stopped.test["top1_error"] == plain.history[0]["test_error"]


def test_evaluating_every_few_epochs_refuses_choices_that_read_every_epoch():
    with pytest.raises(ValueError, match="eval_every_epochs: 3 leaves epochs without a validation error"):
        Recipe(eval_every_epochs=3, select="best_val")
    with pytest.raises(ValueError, match="early_stopping_patience"):
        Recipe(eval_every_epochs=3, early_stopping_patience=2)


def test_bf16_and_channels_last_follow_the_fp32_reference(train, digits):
    """The CPU speed options change the arithmetic, not the training: same seed, same data order,
    the final loss within 15% of plain fp32 and the test error within 2 points."""
    base = Recipe(lr=0.05, momentum=0.9, epochs=3, batch_size=64)
    ref = train(5, base, model="cnn_small")[1]
    nhwc_net, nhwc = train(5, base.model_copy(update={"channels_last": True}), model="cnn_small")
    half = train(5, base.model_copy(update={"precision": "bf16"}), model="cnn_small")[1]
    for run in (nhwc, half):
        assert math.isclose(ref.history[-1]["train_loss"], run.history[-1]["train_loss"], rel_tol=0.15)
        assert abs(run.test["top1_error"] - ref.test["top1_error"]) < 2.0
    conv = next(m for m in nhwc_net.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert half.history[-1]["train_loss"] != ref.history[-1]["train_loss"]  # bf16 did round differently

    seen = []
    net = create_model("mlp", (1, 8, 8), 10, hidden=[16])
    net.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    fit(Trainer.on_device(net, digits(0.0), base.model_copy(update={"epochs": 1, "precision": "bf16", "val_fraction": 0.0}), seed_everything(0)))
    assert torch.bfloat16 in seen


def test_best_val_selection_and_early_stopping(train, digits):
    recipe = Recipe(lr=0.05, epochs=30, select="best_val", early_stopping_patience=2)
    net, res = train(0, recipe, hidden=[32])
    vals = [h["val_error"] for h in res.history]
    assert res.selected_epoch == 1 + vals.index(min(vals))
    assert len(res.history) < 30 or res.selected_epoch >= 28
    data = digits()
    assert evaluate(net, data.x_test, data.y_test)["top1_error"] == res.test["top1_error"]


def test_perceptron_rule_through_the_loop(train, digits):
    """The loop applies the rule example by example in each epoch's permutation: the same weights
    as whole epochs of `perceptron_epoch` drawn from the same generator, whatever the batch size."""
    from landmarks.train.steps.perceptron import perceptron_epoch

    net, res = train(0, Recipe(optimizer="perceptron", epochs=3, batch_size=7), model="perceptron")
    assert res.steps == 3 * math.ceil(len(digits(0.1).y_train) / 7) and res.history[0]["lr"] == 1.0
    assert res.test["top1_error"] < 15.0
    data = digits(0.1)
    gen = seed_everything(0)
    ref = create_model("perceptron", data.in_shape, data.num_classes)
    mistakes = [perceptron_epoch(ref, data.x_train, data.y_train, gen) for _ in range(3)]
    assert torch.equal(ref.linear.weight, net.linear.weight)
    n = len(data.y_train)
    assert [h["train_error"] for h in res.history] == pytest.approx([100.0 * m / n for m in mistakes])
    assert [h["train_loss"] for h in res.history] == pytest.approx([m / n for m in mistakes])  # mistakes per example


def test_divergence_is_an_error_naming_the_epoch(train):
    try:
        train(0, Recipe(lr=1e6, epochs=3, loss="mse"), hidden=[32])
    except TrainingError as exc:
        assert "epoch" in str(exc) and "learning rate" in str(exc)
    else:
        raise AssertionError("a diverging run must fail")


def test_schedules():
    multi = lr_factor(Schedule(kind="multistep", milestones=(2, 4), gamma=0.1), steps_per_epoch=10)
    assert [multi(s) for s in (0, 19, 20, 39, 40)] == [1.0, 1.0, 0.1, 0.1, 0.1**2]
    steps = lr_factor(Schedule(kind="multistep", unit="step", milestones=(32000, 48000)), steps_per_epoch=352)
    assert steps(31999) == 1.0 and math.isclose(steps(32000), 0.1) and math.isclose(steps(48000), 0.01)
    warm = lr_factor(Schedule(warmup_steps=400, warmup_factor=0.1), steps_per_epoch=10)
    assert warm(399) == 0.1 and warm(400) == 1.0
    step = lr_factor(Schedule(kind="step", step_size=30, gamma=0.1), steps_per_epoch=1)
    assert step(29) == 1.0 and math.isclose(step(30), 0.1)
    cos = lr_factor(Schedule(kind="cosine"), steps_per_epoch=10, total_steps=100)
    assert cos(0) == 1.0 and math.isclose(cos(50), 0.5) and cos(100) == 0.0 and cos(99) > 0.0
    assert all(cos(s) >= cos(s + 1) for s in range(100))
    with pytest.raises(ValueError, match="total number of steps"):
        lr_factor(Schedule(kind="cosine"), steps_per_epoch=10)


def test_validation_split_is_fixed_and_disjoint():
    tr, va = split_validation(1000, 0.1)
    tr2, va2 = split_validation(1000, 0.1)
    assert (tr == tr2).all() and (va == va2).all()
    assert len(va) == 100 and not set(tr) & set(va)
