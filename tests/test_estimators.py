"""The scikit-learn baselines: the estimator registry, the catalog check and the task, run through
the real runner on the bundled digits."""

from pathlib import Path

import pytest
import yaml

from landmarks.catalog import load_catalog
from landmarks.errors import ConfigError
from landmarks.estimators import ESTIMATORS, create_estimator
from landmarks.catalog_check import check_catalog
from landmarks.report.build import build_report

LANDMARK = {
    "id": "digits-sklearn",
    "title": "digits with scikit-learn",
    "citation": "test",
    "url": "https://example.org",
    "task": "estimator",
    "dataset": "digits",
    "metric": "top1_error",
    "recipe": {"val_fraction": 0.0},
    "claims": [
        {"name": "rbf svc", "model": "svc", "model_args": {"kernel": "rbf", "C": 10.0}, "paper": 2.0},
        {"name": "rbf svc once", "model": "svc", "model_args": {"kernel": "rbf", "C": 10.0}, "paper": 2.0,
         "seed_independent": True},
        {"name": "linear svc", "model": "linear_svc", "model_args": {"C": 1.0, "max_iter": 5000}, "paper": 6.0},
        {"name": "mlp", "model": "mlp_classifier", "paper": 5.0,
         "model_args": {"hidden_layer_sizes": [32], "max_iter": 300}, "data_args": {"train_images": 600}},
    ],
    "orderings": [{"claims": ["mlp", "rbf svc"], "source": "test"}],
    "profiles": {"quick": {"seeds": [0, 1]}},
}


def write(catalog: Path, doc: dict) -> Path:
    catalog.mkdir(exist_ok=True)
    path = catalog / f"{doc['id']}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_registry_builds_unfitted_classifiers():
    assert {"svc", "linear_svc", "mlp_classifier"} <= set(ESTIMATORS.names())
    mlp = create_estimator("mlp_classifier", 7, hidden_layer_sizes=(5,))
    assert mlp.random_state == 7 and mlp.hidden_layer_sizes == (5,)
    with pytest.raises(ConfigError, match="estimator 'svc': bad model_args"):
        create_estimator("svc", 0, kernal="rbf")


def test_catalog_checks_estimator_names_not_model_names(tmp_path):
    bad = {**LANDMARK, "claims": [{**LANDMARK["claims"][0], "model": "lenet5"}], "orderings": []}
    write(tmp_path / "c", bad)
    with pytest.raises(ConfigError) as err:
        check_catalog(load_catalog(tmp_path / "c"))
    assert "claims[0].model" in str(err.value) and "unknown estimator 'lenet5'" in str(err.value)


def test_catalog_refuses_an_estimator_argument_scikit_learn_does_not_take(tmp_path):
    bad = {**LANDMARK, "claims": [{**LANDMARK["claims"][0], "model_args": {"kernal": "rbf"}}], "orderings": []}
    write(tmp_path / "c", bad)
    with pytest.raises(ConfigError) as err:
        check_catalog(load_catalog(tmp_path / "c"))
    assert "claim 'rbf svc'" in str(err.value) and "claims[0].model_args" in str(err.value)
    assert "kernal" in str(err.value)


@pytest.mark.slow
def test_estimator_task_through_the_runner(tmp_path, train):
    write(tmp_path / "c", LANDMARK)
    lm = load_catalog(tmp_path / "c")["digits-sklearn"]
    doc = train(lm, "quick", tmp_path / "models" / lm.id)
    runs = {(r["claim"], r["seed"]): r for r in doc["runs"]}
    assert len(runs) == 7 and ("rbf svc once", 0) in runs and ("rbf svc once", 1) not in runs
    assert runs[("rbf svc once", 0)]["value"] == runs[("rbf svc", 0)]["value"]
    svc = [runs[("rbf svc", s)]["value"] for s in (0, 1)]
    assert svc[0] == svc[1] and svc[0] < 5.0  # deterministic, and an RBF SVC does well on digits
    assert runs[("linear svc", 0)]["value"] < 15.0
    mlp = runs[("mlp", 0)]
    assert mlp["info.train_images"] == 600 and mlp["value"] < 20.0
    assert runs[("rbf svc", 0)]["info.parameters"] > 0
    for claim in ("linear svc", "mlp"):
        assert 0.0 <= runs[(claim, 0)]["metric.top5_error"] <= runs[(claim, 0)]["value"]
    assert runs[("mlp", 0)]["info.estimator"].startswith("MLPClassifier(")

    build_report("quick", tmp_path / "models", tmp_path / "report", {lm.id: lm})
    table = (tmp_path / "report" / "tables" / "digits-sklearn.md").read_text()
    once = next(line for line in table.splitlines() if line.startswith("| rbf svc once"))
    twice = next(line for line in table.splitlines() if line.startswith("| rbf svc ") and "once" not in line)
    assert "% (1)" in once and "% ± " not in once  # one run: no spread shown
    assert "% ± " in twice and "% (2)" in twice


@pytest.mark.slow
def test_standardised_pixels_as_the_benchmark_runner_did(tmp_path, train):
    """`normalize: standard` standardises each pixel on the training images (StandardScaler)
    before the fit; a linear SVC then lands elsewhere than on [0, 1] inputs."""
    doc = {**LANDMARK, "claims": [LANDMARK["claims"][2]], "orderings": [],
           "profiles": {"quick": {"seeds": [0]}, "paper": {"seeds": [0], "recipe": {"normalize": "standard"}}}}
    write(tmp_path / "c", doc)
    lm = load_catalog(tmp_path / "c")["digits-sklearn"]
    unit = train(lm, "quick", tmp_path / "unit")["runs"][0]
    std = train(lm, "paper", tmp_path / "std")["runs"][0]
    assert unit["value"] != std["value"] and std["value"] < 10.0


@pytest.mark.slow
def test_shuffle_puts_the_training_images_in_a_seeded_order_before_the_fit(tmp_path, train):
    """`data_args: {shuffle: true}`: each seed fits on the training images in an order of its own,
    as the Fashion-MNIST runner shuffled before every repeat; the same seed gives the same order."""
    # a small net stopped early, so that where it ends depends on the order it saw
    mlp = {**LANDMARK["claims"][3], "model_args": {"hidden_layer_sizes": [8], "max_iter": 20}}
    shuffled = {**mlp, "name": "mlp shuffled", "data_args": {**mlp["data_args"], "shuffle": True}}
    doc = {**LANDMARK, "claims": [mlp, shuffled], "orderings": [], "profiles": {"quick": {"seeds": [0]}}}
    write(tmp_path / "c", doc)
    lm = load_catalog(tmp_path / "c")["digits-sklearn"]
    first = {r["claim"]: r for r in train(lm, "quick", tmp_path / "a")["runs"]}
    again = {r["claim"]: r for r in train(lm, "quick", tmp_path / "b")["runs"]}
    # the same random_state and images: only their order differs, and the fit follows it
    assert first["mlp shuffled"]["value"] != first["mlp"]["value"]
    assert again["mlp shuffled"]["value"] == first["mlp shuffled"]["value"]
