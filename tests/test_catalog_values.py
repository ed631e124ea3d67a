"""Values a recipe cannot run with, keys given twice and profiles of a user's own: refused or built
at load, with exit code 2 and a message naming the file and the field, never a traceback."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from landmarks.cli import main
from landmarks.config import load_params

FILE = "xor-backprop.yaml"


def edit(catalog_dir: Path, change, file: str = FILE) -> Path:
    path = catalog_dir / file
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize("key, value, words", [
    ("epochs", -5, "must be greater than or equal to 1, got -5"),
    ("batch_size", 0, "must be greater than or equal to 1, got 0"),
    ("lr", -0.1, "must be greater than 0, got -0.1"),
    ("val_fraction", 1.5, "must be less than 1, got 1.5"),
    ("momentum", 1.2, "must be less than 1, got 1.2"),
    ("weight_decay", -1e-4, "must be greater than or equal to 0"),
])
def test_values_a_recipe_cannot_run_with_are_refused_at_load(catalog_dir, capsys, key, value, words):
    path = edit(catalog_dir, lambda d: d["recipe"].update({key: value}))
    assert main(["--catalog", str(catalog_dir), "check"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and f"'recipe.{key}'" in err and words in err, err


def test_a_profiles_override_is_range_checked_too(catalog_dir, capsys):
    path = edit(catalog_dir, lambda d: d["profiles"]["quick"].setdefault("recipe", {}).update(epochs=0))
    assert main(["--catalog", str(catalog_dir), "check"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "profile quick" in err and "epochs" in err and "got 0" in err, err


def test_train_with_negative_epochs_exits_2_without_a_traceback(catalog_dir, tmp_path):
    """Before, XOR with `epochs: -5` trained nothing and wrote a made-up verdict (exit 0)."""
    edit(catalog_dir, lambda d: d["recipe"].update(epochs=-5))
    models = tmp_path / "models"
    out = subprocess.run([sys.executable, "-m", "landmarks", "--catalog", str(catalog_dir), "train", "xor-backprop",
                          "--profile", "quick", "--models", str(models), "--no-tracking"],
                         capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and "'recipe.epochs'" in out.stderr
    assert not models.exists()  # nothing written


def test_a_key_given_twice_is_refused_with_both_lines(catalog_dir, capsys):
    path = catalog_dir / FILE
    text = path.read_text()
    assert "\nrecipe:\n" in text
    path.write_text(text.replace("\nrecipe:\n", "\nrecipe:\n  epochs: 300\n", 1).replace("  epochs: 300\n", "  epochs: 300\n  epochs: 3\n", 1))
    assert main(["--catalog", str(catalog_dir), "check"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "key 'epochs' appears twice" in err and "remove or rename" in err, err


def test_params_yaml_refuses_a_key_given_twice(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("profile: quick\nprofile: classic\n")
    assert main(["--params", str(params), "use", "classic"]) == 2
    assert "key 'profile' appears twice (lines 1 and 2)" in capsys.readouterr().err
    assert params.read_text() == "profile: quick\nprofile: classic\n"  # left as it was


def test_a_profile_of_ones_own_is_listed_used_and_trained(catalog_dir, tmp_path, capsys):
    """A course's own profile: declared in the catalog, no code change; `use` builds its pipeline."""
    edit(catalog_dir, lambda d: d["profiles"].update(lecture={"seeds": [0], "recipe": {"epochs": 2}}))
    edit(catalog_dir, lambda d: d["profiles"].update(lecture={"seeds": [0, 1]}), "perceptron-convergence.yaml")
    params = tmp_path / "params.yaml"
    params.write_text("profile: quick\n")
    args = ["--catalog", str(catalog_dir), "--params", str(params)]
    assert main([*args, "use", "lecture"]) == 0
    p = load_params(params)
    assert p.profile == "lecture" and set(p.generated) == {"xor-backprop", "perceptron-convergence"}
    assert not p.landmarks and not p.datasets
    capsys.readouterr()
    assert main([*args, "list", "--ids", "--profile", "lecture"]) == 0
    assert capsys.readouterr().out.split() == ["perceptron-convergence", "xor-backprop"]
    # params.yaml's profile is the default of train, which runs the profile's recipe
    models = tmp_path / "models"
    assert main([*args, "train", "xor-backprop", "--models", str(models), "--no-tracking", "-q"]) == 0
    assert (models / "lecture" / "xor-backprop" / "metrics.json").exists()


def test_a_near_miss_of_a_known_profile_is_a_typo_not_a_new_profile(catalog_dir, capsys):
    path = edit(catalog_dir, lambda d: d["profiles"].update(clasic={"seeds": [0]}))
    assert main(["--catalog", str(catalog_dir), "check"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'profiles.clasic'" in err and "did you mean 'classic'?" in err, err


def test_an_unknown_profile_on_the_command_line_names_the_declared_ones(catalog_dir, capsys):
    edit(catalog_dir, lambda d: d["profiles"].update(lecture={"seeds": [0]}))
    assert main(["--catalog", str(catalog_dir), "list", "--profile", "lectures"]) == 2
    err = capsys.readouterr().err
    assert "unknown profile 'lectures'; did you mean 'lecture'?" in err and "cifar-cpu" in err, err


def test_quick_stays_offline(catalog_dir, capsys):
    """A landmark on a downloaded dataset added to quick would make `make reproduce` need a mirror."""
    path = edit(catalog_dir, lambda d: d["profiles"].update(quick={"seeds": [0], "recipe": {"epochs": 1}}),
                "lecun1998-mnist.yaml")
    assert main(["--catalog", str(catalog_dir), "check"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'profiles.quick'" in err and "runs offline" in err and "'mnist'" in err, err
