"""MLflow records of a run, read back through the MLflow client."""

import json
from pathlib import Path

import pytest
import yaml
from mlflow.tracking import MlflowClient

from landmarks.catalog import load_catalog
from landmarks.tracking import Tracker


def small_digits(catalog_dir: Path) -> None:
    path = catalog_dir / "digits-linear-mlp-cnn.yaml"
    data = yaml.safe_load(path.read_text())
    data["profiles"]["quick"] = {"seeds": [0, 1], "claims": ["mlp 64x100"], "recipe": {"epochs": 3}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.slow
def test_run_records_read_back(catalog_dir, tmp_path, train):
    small_digits(catalog_dir)
    lm = load_catalog(catalog_dir)["digits-linear-mlp-cnn"]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, project=tmp_path)
    doc = train(lm, "quick", tmp_path / "out", tracker)

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("landmarks/digits-linear-mlp-cnn")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["mlp 64x100/n"] == 2
    values = [r["value"] for r in doc["runs"]]
    assert abs(parent.data.metrics["mlp 64x100/mean"] - sum(values) / 2) < 1e-9
    assert "mlp 64x100/ci95_low" in parent.data.metrics
    # the verdict as a tag, the landmark's table as the run's description, the profile's recipe as params
    assert parent.data.tags["verdict/mlp 64x100"]
    assert "| mlp 64x100" in parent.data.tags["mlflow.note.content"]
    assert parent.data.params["recipe.mlp 64x100.epochs"] == "3" and parent.data.params["profile"] == "quick"
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {"metrics.json", "history.csv"}
    assert exp.tags["mlflow.note.content"].startswith(lm.title)
    # MLflow's own source tags: the UI's Source and Version columns
    assert parent.data.tags["mlflow.source.git.commit"] == doc["provenance"]["git_commit"]

    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        p, t, m = child.data.params, child.data.tags, child.data.metrics
        # the resolved recipe, as params
        assert p["recipe.epochs"] == "3" and p["recipe.lr"] == "0.05" and p["recipe.momentum"] == "0.9"
        assert p["model"] == "mlp" and p["model_args.hidden"] == "[100]" and p["profile"] == "quick"
        # provenance, as tags
        for tag in ("git_commit", "profile", "version.torch", "version.python", "version.landmarks",
                    "hardware.device", "hardware.cpu", "data_hash", "claim", "seed"):
            assert t.get(tag), tag
        assert t["profile"] == "quick" and t["hardware.device"] == "cpu" and len(t["data_hash"]) == 64
        # the dataset as an MLflow input, with its content hash
        (inp,) = client.get_run(child.info.run_id).inputs.dataset_inputs
        assert inp.dataset.name == "digits" and inp.dataset.digest == t["data_hash"][:36]
        assert t["data_hash"] in inp.dataset.source
        # per-epoch metrics, with the epoch as step
        hist = client.get_metric_history(child.info.run_id, "test_error")
        assert sorted(h.step for h in hist) == [1, 2, 3]
        assert len(client.get_metric_history(child.info.run_id, "train_loss")) == 3
        # one meaning per metric: each epoch's time apart from the run's total
        assert sorted(h.step for h in client.get_metric_history(child.info.run_id, "epoch_seconds")) == [1, 2, 3]
        (total,) = client.get_metric_history(child.info.run_id, "seconds")
        assert total.step == 0 and total.value >= sum(
            h.value for h in client.get_metric_history(child.info.run_id, "epoch_seconds"))
        assert "top1_error" in m and "top5_error" in m
        assert [a.path for a in client.list_artifacts(child.info.run_id, "weights")] == [
            f"weights/mlp_64x100-seed{t['seed']}.pt"]
        assert t["mlflow.source.name"] == "landmarks train digits-linear-mlp-cnn"

    # the report's figure and table, attached to the parent run once the report is built
    from landmarks.report.build import build_report
    from landmarks.report.to_mlflow import attach

    (tmp_path / "models" / "quick").mkdir(parents=True)
    (tmp_path / "out").rename(tmp_path / "models" / "quick" / lm.id)
    build_report("quick", tmp_path / "models" / "quick", tmp_path / "reports", load_catalog(catalog_dir))
    assert attach(Tracker(uri, project=tmp_path), [doc], tmp_path / "reports") == 1
    attached = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert attached >= {"report/digits-linear-mlp-cnn.md", "report/digits-linear-mlp-cnn.png"}
    (tmp_path / "models" / "quick" / lm.id).rename(tmp_path / "out")

    # the stage's files carry the same provenance
    from landmarks.run_files import read_outputs

    metrics = read_outputs(tmp_path / "out")
    assert metrics["provenance"]["data_hashes"] == [children[0].data.tags["data_hash"]]
    assert {r["mlflow_run_id"] for r in metrics["runs"]} == {c.info.run_id for c in children}
    # the run ids live beside the stage's tracked output, not in it: a rerun leaves metrics.json alone
    stable = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert all("mlflow_run_id" not in r for r in stable["runs"])
    assert metrics["recipes"]["mlp 64x100"]["epochs"] == 3


@pytest.mark.slow
def test_an_interrupted_landmark_ends_killed_and_resumes_the_same_runs(tmp_path, digits_workspace, mlflow_runs):
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    ws = digits_workspace(tmp_path / "ws", epochs=60)
    cmd = [str(Path(sys.executable).parent / "landmarks"), "train", "digits-linear-mlp-cnn",
           "--checkpoint-every-steps", "9"]
    proc = subprocess.Popen(cmd, cwd=ws, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = ws / "checkpoints" / "quick" / "digits-linear-mlp-cnn" / "mlp_64x100-seed7.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    _, parent, child = mlflow_runs(uri, "digits-linear-mlp-cnn")
    assert parent.info.status == "KILLED" and child.info.status == "KILLED"

    done = subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    client, parent2, child2 = mlflow_runs(uri, "digits-linear-mlp-cnn")  # still one parent, one child
    assert (parent2.info.run_id, child2.info.run_id) == (parent.info.run_id, child.info.run_id)
    assert parent2.info.status == "FINISHED" and child2.info.status == "FINISHED"


def test_runs_in_a_dvc_experiment_copy_go_to_the_project_store(tmp_path, monkeypatch):
    from landmarks.tracking import resolve_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    copy = tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpab12cd"  # where `dvc exp run --temp` works
    copy.mkdir(parents=True)
    assert resolve_uri("", copy) == f"sqlite:///{(tmp_path / 'proj' / 'mlflow.db').as_posix()}"
    assert resolve_uri("", tmp_path / "proj") == f"sqlite:///{(tmp_path / 'proj' / 'mlflow.db').as_posix()}"


def test_an_orderings_name_stays_readable_as_an_mlflow_key():
    from landmarks.tracking.client import _clean_key

    assert _clean_key("verdict/ordering of test_error: perceptron > mlp 64x100 > small cnn") == \
        "verdict/ordering of test_error: perceptron above mlp 64x100 above small cnn"
    assert _clean_key("verdict/perceptron (best of all epochs)") == "verdict/perceptron best of all epochs"
