"""Verdicts and the report built from real runs."""

import pandas as pd
import pytest
import yaml

from landmarks.catalog import load_catalog
from landmarks.report.build import build_report
from landmarks.report.verdicts import (NO_CLAIM, NOT_REPRODUCED, REDUCED, REPRODUCED, claim_verdict,
                                       ordering_verdict)


def test_claim_verdicts():
    assert claim_verdict("mean_within", 0.95, [1.0, 1.1], 0.2, True, False) == REPRODUCED
    assert claim_verdict("mean_within", 0.95, [1.3, 1.2], 0.2, True, False) == NOT_REPRODUCED
    assert claim_verdict("mean_within", 0.95, [0.5], 0.0, True, False) == REPRODUCED  # better counts
    assert claim_verdict("mean_within", 0.9, [0.85], 0.01, False, False) == NOT_REPRODUCED
    assert claim_verdict("all_at_most", 1.0, [0.2, 1.01], 0.0, True, False) == NOT_REPRODUCED
    assert claim_verdict("all_at_most", 0.75, [0.75, 0.5], 0.0, False, False) == REPRODUCED
    assert claim_verdict("all_at_least", 0.5, [0.6, 0.4], 0.0, False, False) == NOT_REPRODUCED
    assert claim_verdict("mean_within", 0.95, [0.9], 0.2, True, True) == REDUCED
    assert claim_verdict("mean_within", None, [0.9], 0.2, True, False) == NO_CLAIM


def test_ordering_verdicts():
    assert ordering_verdict([5.0, 2.0, 1.0], True, False) == REPRODUCED
    assert ordering_verdict([5.0, 1.0, 2.0], True, False) == NOT_REPRODUCED
    assert ordering_verdict([0.8, 0.9], False, False) == REPRODUCED
    assert ordering_verdict([5.0, 1.0], True, True) == REDUCED


@pytest.mark.slow
def test_report_from_real_runs(catalog_dir, tmp_path, train):
    path = catalog_dir / "xor-backprop.yaml"
    data = yaml.safe_load(path.read_text())
    data["profiles"]["classic"] = {"seeds": [0, 1, 2], "reduced_budget": True, "recipe": {"epochs": 300}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    catalog = load_catalog(catalog_dir)
    models = tmp_path / "models"
    for profile in ("quick", "classic"):
        train(catalog["xor-backprop"], profile, models / profile / "xor-backprop")
        build_report(profile, models / profile, tmp_path / "reports" / profile, catalog)

    quick = tmp_path / "reports" / "quick"
    results = pd.read_csv(quick / "results.csv")
    assert len(results) == 20 and set(results.seed) == set(range(10))  # tidy: one row per run
    summary = pd.read_csv(quick / "summary.csv")
    solved = summary[summary.claim == "2-2-1 net, backpropagation"].iloc[0]
    runs = results[results.claim == "2-2-1 net, backpropagation"]
    assert solved["mean"] == runs["value"].mean() and solved["n"] == 10
    table = (quick / "tables" / "xor-backprop.md").read_text()
    assert "| claim" in table and "verdict" in table and "0.75" in table
    readme = (quick / "README.md").read_text()
    assert "xor-backprop" in readme
    # the quick profile's other landmarks were not run here: the index says so, by name
    assert "Not run yet in this profile: digits-linear-mlp-cnn, perceptron-convergence." in readme

    # a reduced-budget profile is labelled so, in its own folder, without touching the quick one
    classic = tmp_path / "reports" / "classic"
    assert "reduced budget" in (classic / "tables" / "xor-backprop.md").read_text()
    assert set(pd.read_csv(classic / "summary.csv").verdict) == {REDUCED}
    assert pd.read_csv(quick / "results.csv").equals(results)


@pytest.mark.slow
def test_a_run_that_did_not_learn_is_said_aloud(catalog_dir, tmp_path, train, caplog):
    # a step of lr 5 kills every ReLU of the digits MLP at once: it then answers one class
    path = catalog_dir / "digits-linear-mlp-cnn.yaml"
    data = yaml.safe_load(path.read_text())
    mlp = next(c for c in data["claims"] if c["model"] == "mlp")
    data["claims"] = [mlp, {**mlp, "name": "mlp, lr 5", "recipe": {"lr": 5.0, "epochs": 2}}]
    data["orderings"] = []
    data["profiles"]["quick"] = {"seeds": [0]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    catalog = load_catalog(catalog_dir)
    models = tmp_path / "models" / "quick"
    with caplog.at_level("WARNING", logger="landmarks"):
        train(catalog["digits-linear-mlp-cnn"], "quick", models / "digits-linear-mlp-cnn")
    warnings = [r.getMessage() for r in caplog.records if "did not learn" in r.getMessage()]
    assert len(warnings) == 1 and "mlp, lr 5, seed 0" in warnings[0]

    build_report("quick", models, tmp_path / "reports", catalog)
    results = pd.read_csv(tmp_path / "reports" / "results.csv")
    stuck = results.set_index("claim")["info.at_chance"]
    assert bool(stuck["mlp, lr 5"]) and not bool(stuck[mlp["name"]])
    table = (tmp_path / "reports" / "tables" / "digits-linear-mlp-cnn.md").read_text()
    said = next(s for s in table.splitlines() if s.startswith("**Did not learn**"))
    assert "mlp, lr 5 seed 0" in said and f"{mlp['name']} seed" not in said
