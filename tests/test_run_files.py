"""A landmark's output folder and a report's results.csv keep what changes at every run apart."""

import json

import pandas as pd

from landmarks.report.run_info import write_results
from landmarks.run_files import VOLATILE, read_outputs, write_outputs


def _doc(seconds: float, run_id: str) -> tuple[dict, list[dict]]:
    row = {"landmark": "lm", "claim": "a", "seed": 0, "value": 1.5, "code_commit": "c" * 40,
           "seconds": seconds, "info.train_seconds": seconds - 1, "mlflow_run_id": run_id, "git_commit": "h" * 40}
    doc = {"landmark": "lm", "profile": "quick", "seconds": seconds + 1, "mlflow_parent_run_id": "p" + run_id,
           "provenance": {"code_commit": "c" * 40, "git_commit": "h" * 40, "version.torch": "2"},
           "recipes": {"a": {"lr": 0.1}}, "runs": [row]}
    history = [{"claim": "a", "seed": 0, "epoch": e, "test_error": 3.0 - e, "seconds": seconds / 2} for e in (1, 2)]
    return doc, history


def test_two_runs_that_differ_only_in_time_write_the_same_bytes(tmp_path):
    (a, b) = tmp_path / "a", tmp_path / "b"
    for out, (seconds, run_id) in ((a, (10.0, "r1")), (b, (20.0, "r2"))):
        write_outputs(out, *_doc(seconds, run_id))
    for name in ("metrics.json", "history.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "run-info.json").read_bytes() != (b / "run-info.json").read_bytes()
    stable = json.loads((a / "metrics.json").read_text())
    assert not set(VOLATILE) & set(stable["runs"][0]) and "seconds" not in stable
    assert "seconds" not in pd.read_csv(a / "history.csv")

    # read back whole: the times and ids where they were
    doc, _ = _doc(10.0, "r1")
    assert read_outputs(a) == doc
    info = json.loads((a / "run-info.json").read_text())
    assert info["runs"][0]["epoch_seconds"] == [5.0, 5.0]
    (a / "run-info.json").unlink()  # a folder restored by DVC from its cache has none
    assert read_outputs(a) == stable


def test_results_csv_holds_no_time_and_names_the_codes_commit(tmp_path):
    # a row recorded before the code's commit was kept: HEAD when it ran stands for it
    results = pd.DataFrame([{"landmark": "lm", "claim": "a", "seed": 0, "value": 1.5, "seconds": 3.0,
                             "mlflow_run_id": "r", "git_commit": "h" * 40},
                            {"landmark": "lm", "claim": "a", "seed": 1, "value": 1.4, "seconds": 4.0,
                             "mlflow_run_id": "s", "git_commit": "h" * 40, "code_commit": "c" * 40}])
    write_results(results, tmp_path)
    written = pd.read_csv(tmp_path / "results.csv")
    assert list(written["code_commit"]) == ["h" * 40, "c" * 40]
    assert not set(VOLATILE) & set(written.columns)
    info = pd.read_csv(tmp_path / "run-info.csv")
    assert list(info["seconds"]) == [3.0, 4.0] and list(info["mlflow_run_id"]) == ["r", "s"]
