"""The real datasets, from the offline mirror in ../shared/datasets, through the CLI."""

import hashlib
import json

import numpy as np
import pytest

from landmarks.cli import main
from landmarks.data.cifar10 import CIFAR10_ARCHIVE
from landmarks.data.content import iter_members
from landmarks.data.prepare import load_prepared

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
# the publisher's per-file md5 of the binary release
CIFAR_MD5 = {"data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25", "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d"}

pytestmark = pytest.mark.shared_data


@pytest.fixture
def params(tmp_path, shared_datasets, monkeypatch):
    monkeypatch.setenv("LANDMARKS_DATA_MIRROR", str(shared_datasets))
    path = tmp_path / "params.yaml"
    path.write_text(f"data: {{dir: {tmp_path / 'data'}}}\n")
    return path


def test_mnist_and_fashion_from_the_mirror(params, tmp_path, capsys):
    assert main(["--params", str(params), "fetch", "mnist", "fashion-mnist"]) == 0
    assert main(["--params", str(params), "prepare", "mnist", "fashion-mnist"]) == 0
    out = capsys.readouterr().out
    assert "train class counts: " + " ".join(map(str, MNIST_TRAIN_COUNTS)) in out
    for name in ("mnist", "fashion-mnist"):
        s = load_prepared(name, tmp_path / "data")
        assert s.train_x.shape == (60000, 28, 28, 1) and s.test_x.shape == (10000, 28, 28, 1)
        assert s.train_x.dtype == np.uint8 and s.train_y.dtype == np.int64
        manifest = json.loads((tmp_path / "data" / "prepared" / name / "manifest.json").read_text())
        assert manifest["content_hash"] == s.content_hash
    assert np.bincount(load_prepared("mnist", tmp_path / "data").train_y).tolist() == MNIST_TRAIN_COUNTS
    assert main(["--params", str(params), "verify", "mnist", "fashion-mnist"]) == 0


@pytest.mark.slow
def test_cifar10_real_copy_every_bin_verified(params, tmp_path, capsys):
    assert main(["--params", str(params), "fetch", "cifar-10"]) == 0
    archive = tmp_path / "data" / "raw" / "cifar-10" / "cifar-10-binary.tar.xz"
    assert archive.exists()
    seen = {}
    for member, stream in iter_members(archive):
        if stream is not None and member.name.endswith(".bin"):
            data = stream.read()
            seen[member.name] = (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest())
    assert {k: v[0] for k, v in seen.items()} == dict(CIFAR10_ARCHIVE.content)
    for name, md5 in CIFAR_MD5.items():
        assert seen[f"cifar-10-batches-bin/{name}"][1] == md5
    assert main(["--params", str(params), "prepare", "cifar-10"]) == 0
    s = load_prepared("cifar-10", tmp_path / "data")
    assert s.train_x.shape == (50000, 32, 32, 3) and s.test_x.shape == (10000, 32, 32, 3)
    assert np.bincount(s.train_y).tolist() == [5000] * 10 and np.bincount(s.test_y).tolist() == [1000] * 10


@pytest.mark.slow
def test_short_lenet5_training_on_a_slice_of_mnist(params, tmp_path):
    from dataclasses import replace

    import torch

    from landmarks.catalog import load_catalog, resolve_recipe
    from landmarks.data.loaders import to_device
    from landmarks.models import count_parameters, create_model
    from landmarks.train.loop import fit
    from landmarks.train.seeding import seed_everything
    from landmarks.train.trainer import Trainer

    assert main(["--params", str(params), "fetch", "mnist"]) == 0
    assert main(["--params", str(params), "prepare", "mnist"]) == 0
    s = load_prepared("mnist", tmp_path / "data")
    s = replace(s, train_x=s.train_x[:3000], train_y=s.train_y[:3000], test_x=s.test_x[:1000], test_y=s.test_y[:1000])
    lm = load_catalog()["lecun1998-mnist"]
    recipe = resolve_recipe(lm, lm.claim("LeNet-5"), "classic").model_copy(update={"epochs": 2})
    data = to_device(s, recipe.val_fraction, recipe.normalize, torch.device("cpu"))
    model = create_model("lenet5", data.in_shape, 10)
    assert count_parameters(model) == 61_706
    res = fit(Trainer.on_device(model, data, recipe, seed_everything(0)))
    assert res.history[1]["train_loss"] < res.history[0]["train_loss"]
    assert res.test["top1_error"] < 20.0  # 3,000 images, 2 epochs: far from 0.95%, far from chance
