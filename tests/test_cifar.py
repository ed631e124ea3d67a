"""CIFAR-10 models and landmarks on the CPU: paper parameter counts, and a few training steps on
generated data in the CIFAR binary format, fetched over HTTP and prepared like the real release."""

import lzma
import tarfile

import pytest
import torch

from archives import cifar_archive, register_generated_cifar, tar_bytes
from httpserver import Route, Server
from landmarks.catalog import load_catalog, resolve_recipe
from landmarks.models import count_parameters, create_model

# He et al. 2016, Table 6 (millions); a model may be within 3%
PAPER_PARAMS = {"resnet20": 0.27, "resnet32": 0.46, "resnet44": 0.66, "resnet56": 0.85, "resnet110": 1.7, "resnet1202": 19.4}


@pytest.mark.parametrize("name", list(PAPER_PARAMS))
def test_resnet_parameter_counts_match_the_paper(name):
    n = count_parameters(create_model(name, (3, 32, 32), 10)) / 1e6
    assert abs(n - PAPER_PARAMS[name]) / PAPER_PARAMS[name] < 0.03, n
    plain = name.replace("resnet", "plain")
    if plain != "plain1202":  # option A shortcuts add no parameters
        assert count_parameters(create_model(plain, (3, 32, 32), 10)) == round(n * 1e6)


def test_option_a_shortcut_pads_channels_and_subsamples():
    from landmarks.models.resnet_cifar import Block

    block = Block(16, 32, 2, residual=True)
    x = torch.randn(2, 16, 8, 8)
    s = block.shortcut(x)
    assert s.shape == (2, 32, 4, 4)
    assert torch.equal(s[:, 8:24], x[:, :, ::2, ::2]) and s[:, :8].abs().sum() == 0 and s[:, 24:].abs().sum() == 0


@pytest.mark.slow
def test_few_steps_on_generated_cifar_binary(tmp_path, monkeypatch, train):
    members, _ = cifar_archive(1, n=40)
    xz = tar_bytes([(tarfile.TarInfo(k), v) for k, v in members.items()], compress=lzma.compress)
    name, _ = register_generated_cifar(members)
    real = load_catalog()["he2016-resnet-cifar10"]  # the real He et al. 2016 entry, pointed at the generated data
    short = real.profiles["paper"].model_copy(update={
        "reduced_budget": True, "recipe": {"max_steps": 4, "epochs": 2, "batch_size": 16,
                                           "schedule": {"kind": "multistep", "unit": "step", "milestones": [2]}}})
    lm = real.model_copy(update={"dataset": name, "profiles": {**real.profiles, "quick": short}})
    lm._path = real.path
    recipe = resolve_recipe(lm, lm.claim("ResNet-20"), "quick")
    assert recipe.augment == ("crop", "flip") and recipe.drop_last and recipe.max_steps == 4
    with Server() as server:
        server.routes[f"/m/{name}/cifar-10-binary.tar.xz"] = Route(xz)
        monkeypatch.setenv("LANDMARKS_DATA_MIRROR", f"{server.url}/m")
        doc = train(lm, "quick", tmp_path / "out", only_seeds=(0,), only_claims=("ResNet-20",))
    (run,) = doc["runs"]
    assert run["info.steps"] == 4 and run["reduced_budget"] and doc["subset"]
    assert 0 <= run["value"] <= 100 and run["info.parameters"] == 269_722
