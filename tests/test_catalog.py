"""The catalog refuses bad files with exit code 2 and a message naming the file and the field."""

from pathlib import Path

import pytest
import yaml

from landmarks.catalog import PROFILES, load_catalog, resolve_recipe
from landmarks.cli import main

FILE = "digits-linear-mlp-cnn.yaml"


def edit(catalog_dir: Path, change) -> Path:
    path = catalog_dir / FILE
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def refused(catalog_dir: Path, capsys, *args: str) -> str:
    code = main(["--catalog", str(catalog_dir), *(args or ("check",))])
    err = capsys.readouterr().err
    assert code == 2, err
    return err


def test_real_catalog_loads():
    catalog = load_catalog(Path(__file__).resolve().parents[1] / "benchmarks")
    assert {"perceptron-convergence", "xor-backprop", "digits-linear-mlp-cnn"} <= set(catalog)
    for lm in catalog.values():
        assert set(lm.profiles) <= set(PROFILES)
        for profile in lm.profiles:
            for claim in lm.claims_for(profile):
                resolve_recipe(lm, claim, profile)


@pytest.mark.parametrize(
    "change,field,words",
    [
        (lambda d: d.update(epohs=3), "'epohs'", "unknown key"),
        (lambda d: d["recipe"].update(lrr=0.1), "'recipe.lrr'", "unknown key"),
        (lambda d: d.pop("metric"), "'metric'", "missing"),
        (lambda d: d["recipe"].update(lr="fast"), "'recipe.lr'", "expected a number"),
        (lambda d: d["claims"][1].update(model="lenet7"), "'claims[1].model'", "unknown model 'lenet7'"),
        (lambda d: d.update(dataset="mnist-typo"), "'dataset'", "unknown dataset 'mnist-typo'"),
        (lambda d: d["profiles"].update(quik={"seeds": [0]}), "'profiles.quik'", "unknown profile"),
        (lambda d: d["profiles"]["quick"].update(recipe={"epochs": "many"}), "epochs", "expected a whole number"),
        (lambda d: d["claims"][0].update(metric="top3_error"), "'claims[0].metric'", "unknown metric"),
        (lambda d: d["orderings"][0]["claims"].append("vgg"), "'orderings[0].claims[3]'", "no claim named 'vgg'"),
        (lambda d: d.update(task="segment"), "'task'", "unknown task"),
    ],
)
def test_refusals_name_file_and_field(catalog_dir, capsys, change, field, words):
    path = edit(catalog_dir, change)
    err = refused(catalog_dir, capsys)
    assert str(path) in err
    assert field in err
    assert words in err


def test_profile_the_landmark_does_not_have(catalog_dir, capsys, tmp_path):
    edit(catalog_dir, lambda d: d["profiles"].pop("paper"))
    err = refused(catalog_dir, capsys, "train", "digits-linear-mlp-cnn", "--profile", "paper",
                  "--models", str(tmp_path / "m"), "--no-tracking")
    assert FILE in err and "'profiles'" in err and "no profile 'paper'" in err
    assert not (tmp_path / "m").exists()


def test_unknown_profile_name_on_command_line(catalog_dir, capsys):
    err = refused(catalog_dir, capsys, "report", "--profile", "fast")
    assert "--profile" in err and "'fast'" in err


def test_list_prints_claims_profiles_datasets(capsys):
    root = Path(__file__).resolve().parents[1]
    assert main(["--catalog", str(root / "benchmarks"), "list"]) == 0
    out = capsys.readouterr().out
    assert "digits-linear-mlp-cnn" in out and "dataset digits" in out
    assert "profile quick" in out and "claim 'small cnn'" in out


def test_use_rewrites_the_pipeline_lists_and_keeps_the_rest(tmp_path, capsys):
    from landmarks.config import load_params

    root = Path(__file__).resolve().parents[1]
    params = tmp_path / "params.yaml"
    original = (root / "params.yaml").read_text()
    params.write_text(original)
    assert main(["--catalog", str(root / "benchmarks"), "--params", str(params), "use", "classic"]) == 0
    p = load_params(params)
    assert p.profile == "classic" and p.landmarks["lecun1998-mnist"].data == "mnist"
    assert "mnist" in p.datasets and "xor-backprop" in p.generated
    assert "he2016-resnet-cifar10" not in p.landmarks  # no classic profile: not in the classic pipeline
    assert "# auto: CUDA when there is one" in params.read_text()  # comments and settings survive
    assert main(["--catalog", str(root / "benchmarks"), "--params", str(params), "use", "quick"]) == 0
    assert params.read_text() == original
