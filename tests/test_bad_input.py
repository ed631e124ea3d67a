"""Catalog files, params.yaml and options that were let through and then broke a run: orderings
that contradict each other, claim names too long for a file name, YAML alias bombs, claim names
with commas that `--claims` could not select. Each is now refused at load with the file and field
(exit 2) or selectable; real processes, real files, a real MLflow store."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import yaml
from mlflow.tracking import MlflowClient

from landmarks.config import load_params
from landmarks.tracking import Tracker
from landmarks.tracking.runs import LandmarkRuns

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"


def workspace(ws: Path, catalog_dir: Path, digits_dir: Path, edit) -> Path:
    """A project folder with the digits landmark (one seed, 2 epochs), changed by `edit(data)`."""
    (ws / "benchmarks").mkdir(parents=True)
    data = yaml.safe_load((catalog_dir / f"{LANDMARK}.yaml").read_text())
    data["recipe"]["epochs"] = 2
    data["claims"][0]["recipe"]["epochs"] = 2
    data["profiles"] = {"quick": {"seeds": [0]}}
    edit(data)
    (ws / "benchmarks" / f"{LANDMARK}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    (ws / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(digits_dir)},
                                                    "tracking": {"uri": f"sqlite:///{ws / 'mlflow.db'}"}}))
    return ws


def landmarks(ws: Path, *args: str, memory: int | None = None) -> subprocess.CompletedProcess:
    """The command in `ws`; with `memory`, under an address-space limit of that many bytes (so a
    regression fails with MemoryError instead of taking the machine's memory)."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([str(BIN / "landmarks"), *args], cwd=ws, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=cap if memory else None)


def test_orderings_that_contradict_each_other_are_refused_at_load(tmp_path, catalog_dir, digits_dir):
    """Before, `check` passed and the report showed one pair both `reproduced` and `not reproduced`."""
    def cycle(data: dict) -> None:
        data["orderings"] = [{"claims": ["perceptron", "small cnn"]}, {"claims": ["small cnn", "perceptron"]}]

    def repeat(data: dict) -> None:
        data["orderings"] = [{"claims": ["perceptron", "small cnn", "perceptron"]}]

    def other_metric(data: dict) -> None:  # the same pair, reversed on another metric: no contradiction
        data["orderings"] = [{"claims": ["perceptron", "small cnn"]},
                             {"claims": ["small cnn", "perceptron"], "metric": "top5_error"}]

    out = landmarks(workspace(tmp_path / "cycle", catalog_dir, digits_dir, cycle), "check")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert f"{LANDMARK}.yaml: field 'orderings[1].claims': contradicts an earlier ordering on top1_error" in out.stderr
    assert "'perceptron' -> 'small cnn' -> 'perceptron'" in out.stderr or \
        "'small cnn' -> 'perceptron' -> 'small cnn'" in out.stderr, out.stderr
    out = landmarks(workspace(tmp_path / "repeat", catalog_dir, digits_dir, repeat), "list")
    assert out.returncode == 2 and "field 'orderings[0].claims[2]': 'perceptron' is listed twice" in out.stderr
    out = landmarks(workspace(tmp_path / "metric", catalog_dir, digits_dir, other_metric), "list")
    assert out.returncode == 0, out.stderr


def test_a_claim_name_too_long_for_a_file_is_refused_before_anything_runs(tmp_path, catalog_dir, digits_dir):
    """Before, `check` passed and `train` died with `OSError: File name too long` after the first
    claim's runs, its MLflow parent left RUNNING. Names that one file name would stand for are
    refused too: their runs would share checkpoints."""
    def long_name(data: dict) -> None:
        data["claims"][1]["name"] = "mlp " + "x" * 5000
        data["orderings"] = []

    ws = workspace(tmp_path / "long", catalog_dir, digits_dir, long_name)
    for command in ("check", "train"):
        out = landmarks(ws, command, *([LANDMARK] if command == "train" else []))
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "field 'claims[1].name': 5004 characters long" in out.stderr and "at most 100" in out.stderr
        assert len(out.stderr) < 1000  # one line, not the name five thousand characters long
    assert not (ws / "checkpoints").exists() and not (ws / "models").exists()
    assert not (ws / "mlflow.db").exists() or not MlflowClient(f"sqlite:///{ws / 'mlflow.db'}").search_runs(["0"])

    def same_file(data: dict) -> None:
        data["claims"][2]["name"] = "mlp, 64x100"
        data["orderings"] = []

    out = landmarks(workspace(tmp_path / "same", catalog_dir, digits_dir, same_file), "list")
    assert out.returncode == 2, out.stderr
    assert "'claims[2].name': 'mlp, 64x100' and 'mlp 64x100' would share their runs' files (mlp_64x100-seed*" in out.stderr


def test_long_ordering_names_fit_mlflow_keys(tmp_path):
    """An ordering's row is named by all its claims; at three names of 100 characters its MLflow
    key passed MLflow's 250: the store refused it, the tracker journaled everything after, and the
    parent stayed RUNNING in the store."""
    names = [c * 100 for c in "abc"]
    row = {"claim": "ordering of top1_error: " + " > ".join(names), "p_value": 0.01, "verdict": "reproduced"}
    other = {**row, "claim": row["claim"][:-1] + "d", "p_value": 0.02}  # the same start: the digests tell them apart
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runs = LandmarkRuns(Tracker(uri, project=tmp_path), LANDMARK, "quick", {}, tmp_path / "state")
    runs.close("FINISHED", [row, other])
    parent = MlflowClient(uri).get_run(runs.parent)
    assert parent.info.status == "FINISHED" and not (tmp_path / "tracking-pending").exists()
    p_values = {k: v for k, v in parent.data.metrics.items() if k.endswith("/p_value")}
    assert sorted(p_values.values()) == [0.01, 0.02] and all(len(k) <= 250 for k in p_values)
    assert all(k.startswith("ordering of top1_error: aaaa") for k in p_values)
    assert sum(k.startswith("verdict/ordering") for k in parent.data.tags) == 2


def _with_bomb(path: Path, where: list[str]) -> None:
    """`path` with the anchors of nine levels of nine aliases ("billion laughs": a few hundred bytes
    that expand to 9**9 strings) under an unknown key, and the last level under the keys `where`."""
    bomb = 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    bomb += "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 10))
    body = yaml.safe_load(path.read_text())
    node = body
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = "BOMB"
    text = yaml.safe_dump(body, sort_keys=False).replace("'BOMB'", "*l9").replace("BOMB", "*l9")
    path.write_text("x-bomb:\n" + "".join(f"  {line}\n" for line in bomb.splitlines()) + text)


def test_a_yaml_alias_bomb_is_refused_before_validation(tmp_path, catalog_dir, digits_dir):
    """Before, nine levels of nine aliases under an unknown key ran out of memory (exit 1,
    MemoryError, about 12 s under a 4 GB cap; 24 GB without one) in validation's json.dumps."""
    ws = workspace(tmp_path / "ws", catalog_dir, digits_dir, lambda data: None)
    landmark_file = ws / "benchmarks" / f"{LANDMARK}.yaml"
    clean = landmark_file.read_text()
    for where in (["notes"], ["claims", 1, "model_args"]):
        landmark_file.write_text(clean)
        _with_bomb(landmark_file, where)
        out = landmarks(ws, "list", memory=2 << 30)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert f"{landmark_file.name}: its aliases (*name) expand to more than 10,000,000 characters" in out.stderr
    landmark_file.write_text(clean)
    _with_bomb(ws / "params.yaml", ["data", "mirror"])
    out = landmarks(ws, "ui", memory=2 << 30)  # reads params.yaml for the tracking URI before anything else
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "params.yaml: its aliases (*name) expand to more than" in out.stderr
    # aliases that expand to a sensible size are still YAML
    (ws / "params.yaml").write_text(f"data: {{dir: &dir {json.dumps(str(digits_dir))}, mirror: *dir}}\n")
    assert load_params(ws / "params.yaml").data.mirror == str(digits_dir)


def test_a_claim_whose_name_has_commas_is_selected_with_claim(tmp_path, catalog_dir, digits_dir):
    """`--claims` splits on commas, and many claims have commas in their names: `--claim` takes
    one whole name, and may be repeated."""
    def commas(data: dict) -> None:
        data["claims"][0]["name"] = "perceptron, Rosenblatt's rule"
        data["claims"][1]["name"] = "mlp, 64x100, relu"
        data["orderings"] = []

    ws = workspace(tmp_path / "ws", catalog_dir, digits_dir, commas)
    out = landmarks(ws, "train", LANDMARK, "--claims", "mlp, 64x100, relu")
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "--claims splits on commas" in out.stderr and "--claim 'mlp, 64x100, relu'" in out.stderr
    out = landmarks(ws, "train", LANDMARK, "--claim", "mlp, 64x100, relu", "--claim", "perceptron, Rosenblatt's rule")
    assert out.returncode == 0, out.stderr
    doc = json.loads((ws / "models" / "quick" / LANDMARK / "metrics.json").read_text())
    assert [r["claim"] for r in doc["runs"]] == ["mlp, 64x100, relu", "perceptron, Rosenblatt's rule"]
    assert doc["subset"] is True
    out = landmarks(ws, "train", LANDMARK, "--claim", "mlp")
    assert out.returncode == 2 and "--claim: " in out.stderr and "has no claim named 'mlp'" in out.stderr
