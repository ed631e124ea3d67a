"""The catalog refuses bad files with exit code 2 and a message naming the file and the field."""

import json
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
        (lambda d: d["claims"][2].update(also={"top3_error": 1.0}), "'claims[2].also.top3_error'",
         "unknown metric 'top3_error'"),
        (lambda d: d["claims"][2].update(also={"top1_error": 1.0}), "'claims[2].also.top1_error'",
         "is the claim's own metric"),
        # a share of runs is not a share of the test set: no rule gives its band
        (lambda d: d["claims"][2].update(also={"solved": 1.0}), "'claims[2].also.solved'", "no rule gives a tolerance"),
        (lambda d: d.update(references=[{"name": "SVM", "values": {"top1_error": 2.0, "top3_error": 1.0},
                                         "source": "Table 1"}]), "'references[0].values.top3_error'",
         "unknown metric 'top3_error'"),
        (lambda d: d.update(references=[{"name": "SVM", "values": {}, "source": "Table 1"}]),
         "'references[0].values'", "at least one published value"),
        (lambda d: d.update(references=[{"name": "SVM", "values": {"top1_error": 2.0}, "source": "Table 1",
                                         "beside": ["an SVM"]}]), "'references[0].beside'", "is not a claim"),
        (lambda d: d.update(references=[{"name": "SVM", "values": {"top1_error": 2.0}}]), "'references[0].source'",
         "missing"),
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


def test_list_shows_what_a_profile_needs_and_what_the_paper_cites(catalog_dir, capsys):
    def change(d):
        d["profiles"]["paper"].update(hardware="1 GPU (A100 class)", expected_time="about 3 days on 8 V100s")
        d["claims"][2]["also"] = {"top5_error": 0.2}
        d["references"] = [{"name": "SVM", "values": {"top1_error": 2.0, "top5_error": 0.5}, "source": "Table 1"}]

    edit(catalog_dir, change)
    assert main(["--catalog", str(catalog_dir), "check"]) == 0
    assert main(["--catalog", str(catalog_dir), "list"]) == 0
    out = capsys.readouterr().out
    assert "seeds; hardware 1 GPU (A100 class); expected time about 3 days on 8 V100s" in out
    assert "claim 'small cnn': model cnn_small, paper " in out and ", top5_error 0.2 (" in out
    assert "reference 'SVM' (not re-run): top1_error 2, top5_error 0.5 (Table 1)" in out


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


@pytest.mark.parametrize(
    "change,field,words",
    [
        (lambda d: d["claims"][1]["model_args"].update(hiden=[10]), "'claims[1].model_args.hiden'",
         "unknown argument of model 'mlp'; it takes: hidden, activation"),
        (lambda d: d["claims"][1]["model_args"].update(hidden="100"), "'claims[1].model_args.hidden'",
         "got '100'"),
        (lambda d: d["claims"][1]["model_args"].update(dropout="half"), "'claims[1].model_args.dropout'",
         "the builder's type is float"),
        (lambda d: d["claims"][1]["model_args"].update(activation="swish"), "'claims[1].model_args'",
         "cannot be built"),
        (lambda d: d["claims"][2].update(model="lenet5"), "'claims[2].model_args'",
         "cannot be built with {} for inputs of shape (1, 8, 8)"),
    ],
)
def test_model_args_are_checked_against_the_builder_at_load(catalog_dir, capsys, tmp_path, change, field, words):
    """A misspelt key, a wrong type, a value the builder refuses, a model too big for the
    dataset's images: each refused with exit 2 naming file, claim and field, before training."""
    path = edit(catalog_dir, change)
    for args in (("check",), ("train", "digits-linear-mlp-cnn", "--models", str(tmp_path / "m"), "--no-tracking")):
        err = refused(catalog_dir, capsys, *args)
        assert str(path) in err and field in err and words in err, err
        assert "claim '" in err
    assert not (tmp_path / "m").exists()


def test_unknown_model_is_refused_at_train(catalog_dir, capsys, tmp_path):
    edit(catalog_dir, lambda d: d["claims"][1].update(model="mlp3"))
    err = refused(catalog_dir, capsys, "train", "digits-linear-mlp-cnn", "--models", str(tmp_path / "m"))
    assert "claim 'mlp 64x100'" in err and "'claims[1].model'" in err and "unknown model 'mlp3'" in err


def test_check_passes_the_real_catalog(capsys):
    root = Path(__file__).resolve().parents[1]
    assert main(["--catalog", str(root / "benchmarks"), "check"]) == 0
    n = len(list((root / "benchmarks").glob("*.yaml")))
    assert f"{n} landmarks checked against the registries: all good" in capsys.readouterr().out


def test_schema_validates_every_landmark_file_and_refuses_a_typo(tmp_path, capsys):
    import jsonschema

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "landmark.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    schema = json.loads(out.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    files = sorted((root / "benchmarks").glob("*.yaml"))
    for path in files:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, (path.name, errors[0].message)
    doc = yaml.safe_load(files[0].read_text())
    doc["recipe"] = {**doc.get("recipe", {}), "lrr": 0.1}
    assert any("lrr" in e.message for e in validator.iter_errors(doc))
    doc["recipe"] = {"lr": "fast"}
    assert list(validator.iter_errors(doc))
    # the fields of a lecture's table: other metrics of a claim, cited rows, what a profile needs
    doc = yaml.safe_load(files[0].read_text())
    doc["claims"][0]["also"] = {"top5_error": 18.2}
    doc["references"] = [{"name": "SIFT + FVs", "values": {"top1_error": 45.7}, "source": "Table 1"}]
    next(iter(doc["profiles"].values())).update(hardware="1 GPU", expected_time="about 3 days")
    assert not list(validator.iter_errors(doc))
    doc["references"][0]["valeus"] = {}
    assert any("valeus" in e.message for e in validator.iter_errors(doc))
    assert main(["schema"]) == 0 and json.loads(capsys.readouterr().out) == schema


def test_a_claim_no_tolerance_rule_covers_is_refused(catalog_dir, capsys):
    """XOR's share of solved seeds is not a share of a test set: claimed as a band around a value,
    without a stated tolerance (and its reason), no rule gives its band."""
    def drop(d):
        d["claims"][1].update(check="mean_within", paper=0.9)

    path = catalog_dir / "xor-backprop.yaml"
    data = yaml.safe_load(path.read_text())
    drop(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    err = refused(catalog_dir, capsys, "check")
    assert str(path) in err and "'claims[1].tolerance'" in err and "no rule gives a tolerance" in err


def test_a_profile_runs_a_claim_on_its_own_net_and_recipe():
    """LeCun 1998's paper profile trains the published LeNet-5 with the paper's criterion; the
    classic profile the modern net; the claim (name, paper value) is the same."""
    from landmarks.catalog import load_catalog, resolve_recipe

    lm = load_catalog()["lecun1998-mnist"]
    paper, classic = lm.claim_in("LeNet-5", "paper"), lm.claim_in("LeNet-5", "classic")
    assert (paper.model, classic.model) == ("lenet5-1998", "lenet5") and paper.paper == classic.paper
    assert {c.name: c.model for c in lm.claims_for("paper")}["LeNet-5"] == "lenet5-1998"
    assert resolve_recipe(lm, paper, "paper").loss == "rbf_map"  # the claim's own, after the profile's
    assert resolve_recipe(lm, lm.claim("LeNet-4"), "paper").loss == "mse_pm1"
    assert resolve_recipe(lm, classic, "classic").loss == "cross_entropy"


@pytest.mark.parametrize("override, field", [
    ({"nosuch claim": {"model": "mlp"}}, "'profiles.quick.overrides'"),
    ({"mlp 64x100": {"model": "mlp3"}}, "'profiles.quick.overrides.mlp 64x100.model'"),
    ({"mlp 64x100": {"model_args": {"hiden": [3]}}}, "'profiles.quick.overrides.mlp 64x100.model_args"),
])
def test_a_profiles_override_is_checked_like_a_claim(catalog_dir, capsys, override, field):
    path = edit(catalog_dir, lambda d: d["profiles"]["quick"].update(overrides=override))
    err = refused(catalog_dir, capsys)
    assert str(path) in err and field in err, err
