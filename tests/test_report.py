"""Verdicts and the report built from real runs."""

import json
import math
import warnings
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats
import yaml

from landmarks.catalog import MODIFIED, REDUCED, load_catalog
from landmarks.report.build import build_report
from landmarks.run_files import read_outputs
from landmarks.report.tables import landmark_table, lecture_table, summarize
from landmarks.errors import ConfigError
from landmarks.judging.tolerance import tolerance_for
from landmarks.judging.verdicts import (BETTER, CITED, HOLDS, INCONCLUSIVE, MORE_SEEDS, NO_CLAIM, NOT_REPRODUCED,
                                       REPRODUCED, REVERSED, TOUCHES, VIOLATED, claim_verdict, ordering_verdict)
from landmarks.stats import binomial_floor, interval, ordering_p_value, rounding_half_unit


def verdict(values, paper, tolerance, kind="continuous", lower_is_better=True, budget="paper", check="mean_within",
            bounds=(0.0, 100.0), deterministic=False):
    ci = interval(values, kind, bounds, deterministic)
    judged = claim_verdict(check, paper, values, tolerance, ci, lower_is_better, budget)
    return judged.verdict, judged.position


def test_each_verdict_category_on_constructed_runs():
    # LeNet-5-like errors around the paper's 0.95 +- 0.2
    assert verdict([0.93, 0.97, 0.95, 0.96, 0.94], 0.95, 0.2) == (REPRODUCED, "inside")
    # far better than the paper (LeCun's 300-HU net: 4.70 in the paper, 2.90 here): not a pass
    assert verdict([2.85, 2.95, 2.90, 2.88, 2.92], 4.7, 0.4) == (BETTER, "below")
    assert verdict([1.6, 1.7, 1.65, 1.62, 1.68], 0.95, 0.2) == (NOT_REPRODUCED, "above")
    # a mean inside the band whose interval crosses its edge: more seeds would decide
    assert verdict([1.0, 1.3, 1.1], 1.06, 0.2) == (f"{INCONCLUSIVE}: {MORE_SEEDS}", "crosses")
    # for an accuracy, higher is better: the sides swap
    assert verdict([0.99, 0.995], 0.9, 0.01, lower_is_better=False, bounds=(0, 1))[0] == BETTER
    # a binary metric at 7 of 10 (XOR solved): Clopper-Pearson [0.35, 0.93] crosses 0.5
    assert verdict([1] * 7 + [0] * 3, 0.5, None, kind="binary", lower_is_better=False, bounds=(0, 1),
                   check="mean_above") == (f"{INCONCLUSIVE}: {MORE_SEEDS}", "crosses")
    assert verdict([1] * 10, 0.5, None, kind="binary", lower_is_better=False, bounds=(0, 1),
                   check="mean_above")[0] == REPRODUCED
    # a budget below the paper's names itself and where the interval lies, whatever the numbers
    assert verdict([0.95, 0.96], 0.95, 0.2, budget=REDUCED) == (f"{REDUCED}; inside the band", "inside")
    assert verdict([2.9, 2.91], 4.7, 0.4, budget=MODIFIED) == (f"{MODIFIED}; below the band", "below")
    # bounds every run must respect are checks, kept apart from reproductions
    assert verdict([0.2, 0.9], 1.0, None, check="all_at_most")[0] == HOLDS
    assert verdict([0.2, 1.01], 1.0, None, check="all_at_most")[0] == VIOLATED
    assert verdict([0.6, 0.4], 0.5, None, check="all_at_least")[0] == VIOLATED
    assert verdict([0.9], None, None) == (NO_CLAIM, "")
    # one seeded run gives no interval: more seeds needed; a deterministic one is its own interval
    assert verdict([0.95], 0.95, 0.2)[0] == f"{INCONCLUSIVE}: {MORE_SEEDS}"
    assert verdict([0.95], 0.95, 0.2, deterministic=True)[0] == REPRODUCED


def test_intervals_fit_the_metric():
    low, high = interval([1] * 7 + [0] * 3, "binary", (0, 1))
    assert 0 <= low < 0.7 < high <= 1  # a t-interval here would reach 1.05
    assert interval([1] * 10, "binary", (0, 1))[1] == 1.0
    low, high = interval([0.1, 0.9, 0.2], "continuous", (0.0, 100.0))
    assert low == 0.0 and high < 100.0  # clipped to the metric's range
    assert all(math.isnan(v) for v in interval([3.0], "continuous", (0, 100)))


def test_tolerance_rule():
    # the test set's binomial noise: LeNet-5 at 0.95% on 10,000 images, 1.96 x 0.097 + 0.005
    tol, se = binomial_floor(0.95, 10_000)
    assert se == pytest.approx(100 * math.sqrt(0.0095 * 0.9905 / 10_000))
    assert tol == pytest.approx(1.959964 * se + 0.005, rel=1e-6) and 0.19 < tol < 0.20
    assert rounding_half_unit(12.0) == 0.05 and rounding_half_unit(3.05) == 0.005 and rounding_half_unit(18) == 0.05
    catalog = load_catalog(Path(__file__).resolve().parents[1] / "benchmarks")
    lecun = catalog["lecun1998-mnist"]
    tol, rule = tolerance_for(lecun, lecun.claim("LeNet-5"))
    assert tol == pytest.approx(binomial_floor(0.95, 10_000)[0]) and "N = 10,000" in rule
    he = catalog["he2016-resnet-cifar10"]
    assert tolerance_for(he, he.claim("ResNet-110")) == (0.16, "the paper's reported spread")
    stated = lecun.claim("LeNet-5").model_copy(update={"tolerance": 0.3, "tolerance_reason": "a reason"})
    assert tolerance_for(lecun, stated) == (0.3, "stated: a reason")


def test_a_stated_tolerance_needs_its_reason(catalog_dir):
    path = catalog_dir / "lecun1998-mnist.yaml"
    data = yaml.safe_load(path.read_text())
    data["claims"][1]["tolerance"] = 0.3
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"claims\[1\].tolerance_reason"):
        load_catalog(catalog_dir)


def test_ordering_verdicts_come_from_a_test_on_the_runs():
    worst, mid, best = [5.0, 5.2, 4.9, 5.1], [2.0, 2.2, 1.9, 2.1], [1.0, 1.1, 0.9, 1.05]
    p, p_rev = ordering_p_value([worst, mid, best], True, [False] * 3)
    assert p < 0.001 and ordering_verdict(p, p_rev).verdict == REPRODUCED
    p, p_rev = ordering_p_value([worst, best, mid], True, [False] * 3)  # a pair significantly reversed
    assert ordering_verdict(p, p_rev).verdict == REVERSED
    # means in the claimed order but within the noise (digits MLP > CNN, p ~ 0.1): not decided
    p, p_rev = ordering_p_value([[2.0, 2.4, 1.8], [1.6, 2.1, 1.7]], True, [False] * 2)
    assert 0.05 < p < 0.5 and ordering_verdict(p, p_rev).verdict == INCONCLUSIVE
    assert ordering_verdict(0.0, 1.0, REDUCED).verdict == f"{REDUCED}; in the claimed order"
    # higher is better for an accuracy: the claimed order is rising
    p, _ = ordering_p_value([[0.80, 0.81, 0.79], [0.90, 0.91, 0.92]], False, [False] * 2)
    assert p < 0.01


def test_a_group_whose_seeds_ended_alike_is_tested_without_a_warning():
    # Fashion-MNIST's RBF SVC: five shuffled fits, one error, read back with float noise
    same = [10.14, 10.139999999999999, 10.14, 10.140000000000001, 10.14]
    mlp = [11.47, 12.01, 11.63, 11.70, 11.77]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's "catastrophic cancellation" warning would raise
        p, p_rev = ordering_p_value([mlp, same], True, [False] * 2)
    # Welch's test with one variance 0 is the one-sample t-test against that group's value
    assert p == pytest.approx(stats.ttest_1samp(mlp, 10.14, alternative="greater").pvalue, rel=1e-6)
    assert p < 1e-4 and p_rev > 0.99


@pytest.mark.slow
def test_report_from_real_runs(catalog_dir, tmp_path, train):
    path = catalog_dir / "xor-backprop.yaml"
    data = yaml.safe_load(path.read_text())
    data["profiles"]["classic"] = {"seeds": [0, 1, 2], "reduced_budget": True, "recipe": {"epochs": 300}}
    data["profiles"]["quick"]["seeds"] = list(range(10))  # the catalog's 100 are for the claim, not this test
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    digits = catalog_dir / "digits-linear-mlp-cnn.yaml"  # a profile that says what it needs
    data = yaml.safe_load(digits.read_text())
    data["profiles"]["quick"]["hardware"] = "a GPU of 8 GB"
    digits.write_text(yaml.safe_dump(data, sort_keys=False))
    catalog = load_catalog(catalog_dir)
    models = tmp_path / "models"
    for profile in ("quick", "classic"):
        train(catalog["xor-backprop"], profile, models / profile / "xor-backprop")
        build_report(profile, models / profile, tmp_path / "reports" / profile, catalog)

    quick = tmp_path / "reports" / "quick"
    results = pd.read_csv(quick / "results.csv")
    assert len(results) == 20 and set(results.seed) == set(range(10))  # tidy: one row per run
    # what changes at every run is beside it, untracked: results.csv changes only with a number
    assert not {"seconds", "mlflow_run_id", "git_commit"} & set(results.columns) and "code_commit" in results
    info = pd.read_csv(quick / "run-info.csv")
    assert len(info) == 20 and (info["seconds"] > 0).all() and (info["git_commit"].str.len() == 40).all()
    summary = pd.read_csv(quick / "summary.csv")
    solved = summary[summary.claim == "2-2-1 net, backpropagation"].iloc[0]
    runs = results[results.claim == "2-2-1 net, backpropagation"]
    assert solved["mean"] == runs["value"].mean() and solved["n"] == 10
    table = (quick / "tables" / "xor-backprop.md").read_text()
    assert "| claim" in table and "verdict" in table and "0.75" in table
    readme = (quick / "README.md").read_text()
    assert "xor-backprop" in readme
    # the quick profile's other landmarks were not run here: the index says so, by name, with
    # what a landmark needs where its profile says
    assert ("Not run yet in this profile:\n\n- digits-linear-mlp-cnn: needs a GPU of 8 GB\n"
            "- perceptron-convergence\n") in readme

    # a reduced-budget profile is labelled so, in its own folder, without touching the quick one
    classic = tmp_path / "reports" / "classic"
    assert "reduced budget" in (classic / "tables" / "xor-backprop.md").read_text()
    rows = pd.read_csv(classic / "summary.csv").set_index("claim")
    solved = rows.loc["2-2-1 net, backpropagation"]
    # whatever the runs gave, the verdict names the budget and the result
    assert solved["verdict"] == f"{REDUCED}; {solved['result']}" and solved["fidelity"] == REDUCED
    assert rows.loc["perceptron (best of all epochs)", "verdict"] == HOLDS  # a theorem holds under any budget
    assert "Each row gives its result against the band" in readme
    assert pd.read_csv(quick / "results.csv").equals(results)

    # the same tables as one offline HTML page: verdicts coloured by their result, provenance under each table
    html = (classic / "index.html").read_text()
    css = {"agrees": "v-reproduced", "better": "v-better", "worse": "v-not", "open": "v-inconclusive"}
    assert f'<td class="verdict {css[solved["outcome"]]}">{REDUCED}; {solved["result"]}' in html
    assert '<td class="verdict v-check-ok">check: holds</td>' in html
    assert "Code: commit <code>" in html and "torch " in html
    assert "http://" not in html and "https://" not in html.split("<body>")[1].split('class="note"')[0]
    # dvc metrics: each claim's verdict and figures
    metrics = json.loads((quick / "metrics.json").read_text())["xor-backprop"]
    assert metrics["2-2-1 net, backpropagation"]["n"] == 10 and "verdict" in metrics["2-2-1 net, backpropagation"]


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


def test_a_profile_off_the_paper_recipe_says_so_and_where_it_lies():
    catalog = load_catalog(Path(__file__).resolve().parents[1] / "benchmarks")
    lm = catalog["lecun1998-mnist"]
    assert lm.budget("classic") == MODIFIED and catalog["srivastava2014-dropout-mnist"].budget("classic") == REDUCED
    runs = pd.DataFrame([{"landmark": lm.id, "profile": "classic", "reduced_budget": False, "claim": "LeNet-5",
                          "value": v, "info.parameters": 61706} for v in (0.60, 0.62, 0.61, 0.59, 0.63)])
    summary = summarize(runs, catalog)
    row = summary.iloc[0]
    assert row["verdict"] == f"{MODIFIED}; below the band" and row["band_position"] == "below"
    table = landmark_table(summary, lm)
    assert "modified recipe; below the band" in table and "± 0.20 pts" in table


def test_learning_curves_draw_what_shows_the_claim(tmp_path):
    from matplotlib.image import imread

    from landmarks.report.figures import learning_curves

    rows = [{"claim": c, "seed": s, "epoch": e, "test_error": base / e + s * 0.1, "train_error": base / (2 * e)}
            for c, base in (("relu", 30.0), ("tanh", 60.0)) for s in (0, 1, 2) for e in range(1, 6)]
    history = pd.DataFrame(rows)
    out = learning_curves(history, "a title long enough to need wrapping " * 3, tmp_path / "f.png",
                          "top1_error", {"relu": 5.0, "tanh": None})
    assert out is not None and imread(out).shape[1] > 800  # an 8-inch figure at 110 dpi
    fig1 = learning_curves(history, "t", tmp_path / "g.png", "epochs_to_threshold", threshold=25.0)
    assert fig1 is not None
    # a metric no per-epoch curve shows (the perceptron's updates): no figure rather than a wrong one
    assert learning_curves(history, "t", tmp_path / "h.png", "updates") is None
    assert not (tmp_path / "h.png").exists()


def lecture_catalog(catalog_dir):
    """lecun1998-mnist as a lecture's table shows a model: LeNet-5's top-1 and top-5 error, with
    the paper's comparison rows (never re-run) and a profile that says what it needs."""
    path = catalog_dir / "lecun1998-mnist.yaml"
    data = yaml.safe_load(path.read_text())
    next(c for c in data["claims"] if c["name"] == "LeNet-5")["also"] = {"top5_error": 0.10}
    data["references"] = [{"name": "SVM, poly 4", "values": {"top1_error": 1.1, "top5_error": 0.3},
                           "source": "Fig. 9", "note": "Cortes and Vapnik's numbers, cited by the paper"}]
    data["profiles"]["lecture"] = {"seeds": [0, 1, 2, 3, 4], "claims": ["LeNet-5"], "note": "As in the paper.",
                                   "hardware": "1 GPU (A100 class) or more", "expected_time": "about 3 days on 8 V100s"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_catalog(catalog_dir)


def lecture_runs(top5):
    """Five runs of LeNet-5 as the runner records them: the landmark's metric as `value`, every
    metric as `metric.<name>`."""
    top1 = (0.94, 0.96, 0.95, 0.93, 0.97)
    return pd.DataFrame([{"landmark": "lecun1998-mnist", "profile": "lecture", "reduced_budget": False,
                          "claim": "LeNet-5", "seed": s, "machine": "test", "value": top1[s],
                          "metric.top1_error": top1[s], "metric.top5_error": t5} for s, t5 in enumerate(top5)])


def test_a_claim_s_other_metric_and_the_paper_s_cited_rows_get_rows_of_their_own(catalog_dir):
    catalog = lecture_catalog(catalog_dir)
    lm = catalog["lecun1998-mnist"]
    summary = summarize(lecture_runs([0.08, 0.10, 0.12, 0.09, 0.11]), catalog)
    top1, top5 = (summary[(summary.claim == "LeNet-5") & (summary.metric == m)].iloc[0]
                  for m in ("top1_error", "top5_error"))
    assert top1["paper"] == 0.95 and top1["verdict"] == REPRODUCED
    assert top5["paper"] == 0.10 and top5["mean"] == pytest.approx(0.10) and top5["n"] == 5
    # the band of top-5 comes from the rule at its own published value, not at top-1's
    assert top5["tolerance"] == pytest.approx(binomial_floor(0.10, 10_000)[0]) and top5["verdict"] == REPRODUCED
    # decided on the top-5 column itself: runs far off at top-5 are not reproduced at top-5 alone
    off = summarize(lecture_runs([0.50, 0.52, 0.49, 0.51, 0.50]), catalog).query("claim == 'LeNet-5'")
    off = off.set_index("metric")["verdict"]
    assert off["top5_error"] == NOT_REPRODUCED and off["top1_error"] == REPRODUCED
    cited = summary[summary.verdict == CITED]
    assert list(cited.claim) == ["SVM, poly 4"] * 2 and list(cited.paper) == [1.1, 0.3]
    assert cited["mean"].isna().all()
    table = landmark_table(summary, lm)
    lines = {line.split("|")[1].strip() + " / " + line.split("|")[2].strip(): line for line in table.splitlines()[2:]}
    assert set(lines) == {"LeNet-5 / top1_error", "LeNet-5 / top5_error", "SVM, poly 4 / top1_error",
                          "SVM, poly 4 / top5_error"}
    assert "| 0.10%" in lines["LeNet-5 / top5_error"] and "reproduced" in lines["LeNet-5 / top5_error"]
    cells = [c.strip() for c in lines["SVM, poly 4 / top5_error"].split("|")]
    assert "0.30%" in cells and "not re-run" in cells and "Fig. 9" in cells and not any("(5)" in c for c in cells)


def test_report_shows_cited_rows_and_what_a_profile_needs(catalog_dir, tmp_path):
    catalog = lecture_catalog(catalog_dir)
    folder = tmp_path / "models" / "lecun1998-mnist"
    folder.mkdir(parents=True)
    runs = lecture_runs([0.08, 0.10, 0.12, 0.09, 0.11]).to_dict("records")
    folder.joinpath("metrics.json").write_text(json.dumps({
        "landmark": "lecun1998-mnist", "runs": runs, "seconds": 1.0, "reduced_budget": False,
        "provenance": {"git_commit": "0" * 40}}))
    build_report("lecture", tmp_path / "models", tmp_path / "reports", catalog)
    table = (tmp_path / "reports" / "tables" / "lecun1998-mnist.md").read_text()
    assert ("Profile `lecture`: hardware: 1 GPU (A100 class) or more; expected time: about 3 days on 8 V100s. "
            "As in the paper.") in table
    assert "SVM, poly 4 (Cortes and Vapnik's numbers, cited by the paper)." in table
    assert "LeNet-5 (top5_error): 1.96 x" in table  # the tolerance rule of each row, named apart
    html = (tmp_path / "reports" / "index.html").read_text()
    assert '<td class="verdict v-cited">not re-run</td>' in html and html.count("<td>SVM, poly 4</td>") == 2
    assert "hardware: 1 GPU (A100 class) or more; expected time: about 3 days on 8 V100s." in html
    assert "<td>top5_error</td>" in html
    # the cited rows are the paper's, not results: no verdict count and no dvc metric
    readme = (tmp_path / "reports" / "README.md").read_text()
    assert "reproduced: 2" in readme and "not re-run:" not in readme.split("## ")[0]
    metrics = json.loads((tmp_path / "reports" / "metrics.json").read_text())["lecun1998-mnist"]
    assert set(metrics) == {"LeNet-5", "LeNet-5 (top5_error)"}
    assert metrics["LeNet-5 (top5_error)"]["paper"] == 0.1 and metrics["LeNet-5"]["paper"] == 0.95


def test_the_lecture_layout_puts_top1_and_top5_side_by_side(catalog_dir):
    catalog = lecture_catalog(catalog_dir)
    summary = summarize(lecture_runs([0.08, 0.10, 0.12, 0.09, 0.11]), catalog)
    table = lecture_table(summary, catalog["lecun1998-mnist"])
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:6]] for line in table.splitlines()[2:]}
    assert rows == {"LeNet-5": ["0.95%", "0.95% ± 0.02 (5)", "0.10%", "0.10% ± 0.02 (5)"],
                    "SVM, poly 4": ["1.10%", "not re-run", "0.30%", "not re-run"]}
    # a landmark with one metric keeps the one table
    assert lecture_table(summary, catalog["xor-backprop"]) is None


def test_a_report_is_rebuilt_from_its_committed_results_without_training(catalog_dir, tmp_path, train, root):
    """`--from-results`: the committed quick report's runs judged again under the current rules,
    with no models/ folder; runs trained again since come from models/ instead, the rest from the file; a file of
    another profile is refused, naming it."""
    catalog = load_catalog(catalog_dir)
    committed = pd.read_csv(root / "reports" / "quick" / "results.csv")
    out = tmp_path / "reports" / "quick"
    (out / "figures").mkdir(parents=True)
    (out / "figures" / "digits-linear-mlp-cnn.png").write_bytes(b"drawn when the runs were made")
    build_report("quick", tmp_path / "no-models", out, catalog, root / "reports" / "quick" / "results.csv")
    rebuilt = pd.read_csv(out / "results.csv")
    assert len(rebuilt) == len(committed) and set(rebuilt.landmark) == set(committed.landmark)
    summary = pd.read_csv(out / "summary.csv")
    backprop = summary[summary.claim == "2-2-1 net, backpropagation"].iloc[0]
    runs = committed[committed.claim == "2-2-1 net, backpropagation"]
    assert backprop["n"] == len(runs) and backprop["mean"] == pytest.approx(runs["value"].mean())
    readme = (out / "README.md").read_text()
    assert "Rebuilt from" in readme and "Not run yet" not in readme
    assert (out / "figures" / "digits-linear-mlp-cnn.png").read_bytes() == b"drawn when the runs were made"

    path = catalog_dir / "xor-backprop.yaml"
    data = yaml.safe_load(path.read_text())
    data["profiles"]["quick"]["seeds"] = [0, 1, 2]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    catalog = load_catalog(catalog_dir)
    models = tmp_path / "models" / "quick"
    train(catalog["xor-backprop"], "quick", models / "xor-backprop")
    build_report("quick", models, out, catalog, root / "reports" / "quick" / "results.csv")
    mixed = pd.read_csv(out / "results.csv")
    # 2 claims x 3 seeds trained here, the other 97 seeds of each claim still from the file
    xor = mixed[mixed.landmark == "xor-backprop"]
    assert len(xor) == len(committed[committed.landmark == "xor-backprop"])
    fresh = read_outputs(models / "xor-backprop")["runs"]
    info = pd.read_csv(out / "run-info.csv")
    assert sorted(info[(info.landmark == "xor-backprop") & (info.seed < 3)]["seconds"]) == sorted(
        r["seconds"] for r in fresh)
    assert len(mixed[mixed.landmark == "digits-linear-mlp-cnn"]) == len(
        committed[committed.landmark == "digits-linear-mlp-cnn"])
    assert "except the runs of xor-backprop trained again since" in (out / "README.md").read_text()

    with pytest.raises(ConfigError, match=r"results.csv: holds runs of profile quick, not only 'classic'"):
        build_report("classic", tmp_path / "no-models", tmp_path / "r2", catalog,
                     root / "reports" / "quick" / "results.csv")


def test_a_log_error_axis_keeps_an_error_of_zero_in_view():
    from landmarks.report.figures import y_scale

    assert y_scale([2.0, 3.0], [10.0, 12.0], zeros=False) == ("linear", {})  # within a factor of ten
    assert y_scale([0.5], [30.0], zeros=False) == ("log", {})
    scale, kwargs = y_scale([0.5], [30.0], zeros=True)  # a training error that reaches 0
    assert scale == "symlog" and kwargs["linthresh"] == 0.5


def test_a_curve_joins_the_evaluated_epochs_of_runs_evaluated_every_few():
    """Runs with `eval_every_epochs` have rows without a test error: the band is over the epochs
    that have one, so the line is drawn through them, not broken at every gap."""
    import pandas as pd

    from landmarks.report.figures import seed_band

    nan = float("nan")
    runs = pd.DataFrame({"seed": [0, 0, 0, 1, 1, 1], "epoch": [1, 2, 3, 1, 2, 3],
                         "test_error": [nan, 20.0, 10.0, nan, 30.0, 14.0],
                         "train_error": [50.0, 25.0, 12.0, 52.0, 27.0, 13.0]})
    mean, lo, hi = seed_band(runs, "epoch", "test_error")
    assert list(mean.index) == [2, 3] and list(mean) == [25.0, 12.0]
    assert list(lo) == [20.0, 10.0] and list(hi) == [30.0, 14.0]
    assert list(seed_band(runs, "epoch", "train_error")[0].index) == [1, 2, 3]


def test_a_landmark_run_a_claim_at_a_time_says_how_many_seeds_of_each_claim_finished(tmp_path, catalog_dir):
    """The paper profile of He et al. 2016 on a CPU: ResNet-20's seeds finish one by one, the
    deeper nets wait for a GPU. The report's in-progress line counts the finished runs per claim."""
    from landmarks.report.in_progress import kept_docs

    catalog = load_catalog(catalog_dir)
    lm = catalog["he2016-resnet-cifar10"]
    folder = tmp_path / "runs" / "paper" / lm.id
    folder.mkdir(parents=True)
    for seed in (0, 1, 7):  # seed 7: a run beyond the profile's seeds, shown but not counted
        row = {"claim": "ResNet-20", "seed": seed, "metric": "top1_error", "value": 8.5 + seed / 10}
        (folder / f"ResNet-20-seed{seed}.json").write_text(json.dumps(
            {"identity": {"version.torch": "2.x"}, "row": row, "history": [{"epoch": 1, "test_error": 50.0}]}))
    (doc,) = kept_docs(tmp_path / "runs", "paper", catalog, set())
    deeper = [c.name for c in lm.claims_for("paper") if c.name != "ResNet-20"]
    total = 5 * len(lm.claims_for("paper"))
    assert doc["in_progress"] == (f"in progress: 2 of {total} runs finished; ResNet-20: 2 of 5 seeds; "
                                  f"{', '.join(deeper)}: none yet")
    assert [r["seed"] for r in doc["runs"]] == [0, 1, 7]
