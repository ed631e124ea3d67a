"""Every registered model builds on a tiny CPU input, with the right output shape and no NaN."""

from pathlib import Path

import pytest
import torch
from torch import nn

from landmarks.errors import ConfigError
from landmarks.models import MODELS, count_parameters, create_model, list_models, register_model

# inputs each family is meant for: (in_shape, num_classes, model_args)
CASES = {
    "perceptron": [((1, 8, 8), 10, {}), ((2,), 2, {"bias": False})],
    "mlp": [((1, 8, 8), 10, {"hidden": [16, 8], "activation": "tanh", "dropout": 0.5}),
            ((2,), 2, {"hidden": [2], "activation": "sigmoid", "single_output": True})],
    "cnn_small": [((1, 8, 8), 10, {})],
    "linear": [((1, 28, 28), 10, {})],
    "lenet1": [((1, 28, 28), 10, {}), ((1, 28, 28), 10, {"activation": "tanh", "pool": "max"})],
    "lenet4": [((1, 28, 28), 10, {})],
    "lenet5": [((1, 28, 28), 10, {}), ((1, 28, 28), 10, {"activation": "tanh", "pool": "avg"})],
    "lenet5-1998": [((1, 28, 28), 10, {})],
    "lenet4-1998": [((1, 28, 28), 10, {})],
    "lenet1-1998": [((1, 28, 28), 10, {})],
    "mlp-1998": [((1, 8, 8), 10, {"hidden": [16, 8]}), ((1, 28, 28), 10, {"hidden": []})],
    "linear-1998": [((1, 28, 28), 10, {})],
    "layers18pct": [((3, 32, 32), 10, {}), ((3, 32, 32), 10, {"pool": "floor"})],
    "cnn4": [((3, 32, 32), 10, {"activation": "relu"}), ((3, 32, 32), 10, {"activation": "tanh"})],
    "nature-dqn": [((4, 84, 84), 6, {})],  # Pong's six actions
    **{f"{kind}{depth}": [((3, 32, 32), 10, {})] for kind in ("resnet", "plain") for depth in (20, 32, 44, 56, 110, 1202)},
    "resnet20": [((3, 32, 32), 10, {}), ((3, 32, 32), 10, {"bn_group": 2})],
    # ImageNet nets at 64x64 (their adaptive pooling takes any size; 224x224 in their landmarks)
    **{name: [((3, 64, 64), 10, {})] for name in ("alexnet", "alexnet2012", "vgg16", "vgg16_bn", "resnet18",
                                                   "resnet34", "resnet50", "plain18", "plain34")},
}

# parameter counts of the documented variants (lenet5: its usual modern form; lenet5-1998: the
# paper's; layers18pct: the count of cuda-convnet's layers-18pct.cfg)
PARAMS = {
    ("lenet5", (1, 28, 28)): 61_706,
    ("lenet5-1998", (1, 28, 28)): 60_000,
    ("layers18pct", (3, 32, 32)): 89_578,
    ("lenet4", (1, 28, 28)): 51_050,
    ("lenet1", (1, 28, 28)): 3_246,
    ("linear", (1, 28, 28)): 7_850,
    ("nature-dqn", (4, 84, 84)): 1_689_258,  # with 10 outputs (Pong's 6: 1,687,206, tests/test_dqn.py)
}


@pytest.mark.parametrize("name,in_shape", list(PARAMS))
def test_parameter_counts(name, in_shape):
    assert count_parameters(create_model(name, in_shape, 10)) == PARAMS[(name, in_shape)]


def test_mlp_parameter_counts_of_the_1998_and_2003_nets():
    sizes = {(300,): 238_510, (1000,): 795_010, (300, 100): 266_610, (500, 150): 469_160, (800,): 636_010}
    for hidden, n in sizes.items():
        assert count_parameters(create_model("mlp", (1, 28, 28), 10, hidden=list(hidden))) == n


def test_every_model_has_a_case():
    assert set(list_models()) <= set(CASES), "add a test case for each new model"


@pytest.mark.parametrize("name", list_models())
def test_model_builds_and_runs(name):
    torch.manual_seed(0)
    for in_shape, classes, args in CASES[name]:
        model = create_model(name, in_shape, classes, **args)
        x = torch.randn(3, *in_shape)
        out = model(x)
        expected = 1 if args.get("single_output") else classes
        assert out.shape == (3, expected)
        assert torch.isfinite(out).all()
        assert count_parameters(model) > 0


def test_duplicate_name_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register_model("mlp")(lambda in_shape, num_classes: nn.Identity())
    assert "mlp" in MODELS


def test_unknown_model_and_bad_args():
    with pytest.raises(ConfigError, match="unknown model 'resnet9000'"):
        create_model("resnet9000", (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="bad model_args"):
        create_model("mlp", (1, 8, 8), 10, widths=[3])


def test_perceptron_rule_binary_update():
    p = create_model("perceptron", (2,), 2, bias=False)
    x = torch.tensor([1.0, 2.0])
    assert p.update(x, 1) is True  # zero weights: score 0 is a mistake
    assert torch.equal(p.linear.weight[0], x)
    assert p.update(x, 1) is False  # now right
    assert p.update(x, 0) is True
    assert torch.equal(p.linear.weight[0], torch.zeros(2))


def catalog_claims() -> list:
    """(landmark, claim) for every claim of every catalog file whose task trains a torch model."""
    from landmarks.catalog import load_catalog
    from landmarks.tasks import TASKS

    catalog = load_catalog(Path(__file__).resolve().parents[1] / "benchmarks")
    # a 1202-layer net's backward takes seconds: not in the fast subset
    return [pytest.param(lm, claim, id=f"{lm.id}:{claim.name}",
                         marks=[pytest.mark.slow] if claim.model.endswith("1202") else [])
            for lm in catalog.values() if TASKS.get(lm.task).models == "model" for claim in lm.claims]


@pytest.mark.parametrize("lm,claim", catalog_claims())
def test_every_catalog_claim_builds_runs_and_gets_a_gradient_everywhere(lm, claim):
    """Like timm's registry tests: each claim's model with its model_args, at its dataset's input
    shape, forward and backward on a small batch; every parameter must receive a gradient."""
    from landmarks.catalog_check import model_inputs

    in_shape, classes = model_inputs(lm, claim)
    torch.manual_seed(0)
    model = create_model(claim.model, in_shape, classes, **claim.model_args)
    model.train()
    out = model(torch.randn(4, *in_shape))
    assert out.shape == (4, 1 if claim.model_args.get("single_output") else classes)
    assert torch.isfinite(out).all()
    out.pow(2).mean().backward()  # reaches every output, unlike a loss on one class
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing
