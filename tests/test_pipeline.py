"""The real DVC pipeline, run by `dvc repro` in a scratch copy of the project."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def sh(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


@pytest.fixture
def project(tmp_path: Path) -> Path:
    proj = tmp_path / "proj"
    proj.mkdir()
    for name in ("dvc.yaml", ".dvcignore", "pyproject.toml"):
        shutil.copy(ROOT / name, proj / name)
    shutil.copytree(ROOT / "benchmarks", proj / "benchmarks")
    shutil.copytree(ROOT / "landmarks", proj / "landmarks", ignore=shutil.ignore_patterns("__pycache__"))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["generated"] = ["perceptron-convergence", "xor-backprop"]
    params["landmarks"] = {}
    params["datasets"] = {"digits": {"code": "landmarks/data/digits.py"}}
    (proj / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for lm in params["generated"]:  # fewer seeds: this tests the pipeline, not the landmark
        path = proj / "benchmarks" / f"{lm}.yaml"
        data = yaml.safe_load(path.read_text())
        data["profiles"]["quick"]["seeds"] = [0, 1]
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    sh(["git", "init", "-q"], proj)
    sh(["dvc", "init", "-q"], proj)
    return proj


def ran(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage '")}


@pytest.mark.slow
def test_repro_then_up_to_date_then_one_landmark(project):
    first = sh(["dvc", "repro"], project)
    assert ran(first) == {"fetch@digits", "prepare@digits", "train-generated@perceptron-convergence",
                          "train-generated@xor-backprop", "report"}
    assert (project / "data" / "prepared" / "digits" / "manifest.json").exists()
    reports = project / "reports" / "quick"
    assert (reports / "results.csv").exists() and (reports / "README.md").exists()
    assert {p.name for p in (reports / "tables").glob("*.md")} == {"perceptron-convergence.md", "xor-backprop.md"}
    assert (project / "mlflow.db").exists() and (project / "dvc.lock").exists()

    second = sh(["dvc", "repro"], project)
    assert ran(second) == set()
    assert "Data and pipelines are up to date" in second, second

    path = project / "benchmarks" / "xor-backprop.yaml"
    data = yaml.safe_load(path.read_text())
    data["profiles"]["quick"]["seeds"] = [0, 1, 2]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    third = sh(["dvc", "repro"], project)
    assert ran(third) == {"train-generated@xor-backprop", "report"}
    import pandas as pd

    results = pd.read_csv(reports / "results.csv")
    assert (results[results.landmark == "xor-backprop"].seed.nunique()) == 3

    # what cannot change a result re-runs no training: a report-only file, train.verbose, the
    # checkpoint timing; the report stage alone re-runs for the report code
    with open(project / "landmarks" / "report" / "tables.py", "a") as f:
        f.write("\n# a comment\n")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["verbose"] = True
    params["train"]["checkpoint"]["every_seconds"] = 60
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = sh(["dvc", "status"], project)
    assert "report:" in status and "train" not in status, status
    assert ran(sh(["dvc", "repro"], project)) == {"report"}

    # dvc metrics show lists each claim's verdict; the mean curves are kept as data (dvc plots
    # shows the figures: test_dvc_plots_show_the_reports_figures_offline)
    metrics = sh(["dvc", "metrics", "show"], project)
    lines = metrics.strip().splitlines()
    assert lines[0].split() == ["Path", "better", "not_judged", "not_reproduced", "open", "reproduced"], metrics
    assert max(map(len, lines)) <= 120, metrics  # a row per landmark, readable in a terminal
    xor_row = next(line.split() for line in lines if line.startswith("reports/quick/verdicts/xor-backprop.json"))
    assert sum(map(int, xor_row[1:])) == len(json.loads((reports / "metrics.json").read_text())["xor-backprop"])
    doc = json.loads((reports / "metrics.json").read_text())
    xor = doc["xor-backprop"]
    assert all("verdict" in row for row in xor.values()) and any(row.get("n") == 3 for row in xor.values())
    assert (reports / "curves" / "perceptron-convergence.csv").read_text().startswith("epoch,")

    # a folder remote (a team would use S3 or GCS): push, lose the cache and outputs, pull them back
    remote = project.parent / "remote"
    sh(["dvc", "remote", "add", "-d", "shared", str(remote)], project)
    sh(["dvc", "push"], project)
    metrics_json = project / "models" / "quick" / "xor-backprop" / "metrics.json"
    before = metrics_json.read_text()
    for lost in (project / ".dvc" / "cache", project / "models", project / "data"):
        shutil.rmtree(lost)
    sh(["dvc", "pull"], project)
    assert metrics_json.read_text() == before
    assert (project / "data" / "prepared" / "digits" / "manifest.json").exists()
    after_pull = sh(["dvc", "repro"], project)
    # nothing is trained or prepared again: the pulled files are the ones recorded (the report,
    # kept in git rather than in the cache, may be rebuilt)
    assert not ran(after_pull) - {"report"}, after_pull


def test_the_committed_lock_matches_the_code_and_params():
    """dvc.lock records the hashes of the code and params each stage ran with: committed beside
    code it does not match, a fresh clone's `dvc repro` would re-run stages nobody changed.
    (Outputs absent from a clone are expected; changed inputs are not.)"""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    out = sh(["dvc", "status", "--json"], ROOT)
    status = json.loads(out[out.index("{"):]) if "{" in out else {}
    stale = {}
    for stage, changes in status.items():
        for change in changes if isinstance(changes, list) else []:
            for path, what in change.get("changed deps", {}).items():
                if what == "modified" or isinstance(what, dict):  # a code file, or params.yaml keys
                    stale.setdefault(stage, []).append(path)
    assert not stale, f"dvc.lock is stale for {stale}: run `dvc repro` (or `make reproduce`) and commit dvc.lock"


@pytest.mark.slow
def test_exp_run_temp_records_into_the_projects_mlflow_store(project):
    """`dvc exp run --temp` runs the stages in a throwaway copy under .dvc/tmp/exps; the runs it
    makes belong in the project's store (and its artifacts beside it), tagged with the experiment."""
    env_git = ["git", "-c", "user.name=t", "-c", "user.email=t@localhost"]
    sh(["git", "add", "-A"], project)
    sh([*env_git, "commit", "-q", "-m", "scratch project"], project)
    out = sh(["dvc", "exp", "run", "--temp", "-n", "temp-exp"], project)
    assert "Running stage 'train-generated@xor-backprop'" in out or "train-generated@xor-backprop" in out, out
    assert not (project / "models").exists()  # the stages ran in the copy, not here

    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(project / 'mlflow.db').as_posix()}")
    exp = client.get_experiment_by_name("landmarks/xor-backprop")
    assert exp is not None, "no experiment in the project's store"
    runs = client.search_runs([exp.experiment_id], "tags.`dvc.exp_name` = 'temp-exp'")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    spec = yaml.safe_load((project / "benchmarks" / "xor-backprop.yaml").read_text())
    expected = len(spec["claims"]) * len(spec["profiles"]["quick"]["seeds"])  # 2 claims x 2 seeds
    assert len(parents) == 1 and len(children) == expected, [r.data.tags for r in runs]
    assert all(r.info.status == "FINISHED" for r in runs)
    # artifacts were written beside the project's store, so they outlive the copy
    location = Path(exp.artifact_location.removeprefix("file://"))
    assert location.is_relative_to(project / "mlartifacts") and location.exists(), exp.artifact_location
    assert client.list_artifacts(parents[0].info.run_id), "the parent run's artifacts are gone"
    # the experiment is DVC's too: `dvc exp show` lists it with the metrics file's columns
    shown = sh(["dvc", "exp", "show", "--json"], project)
    assert "temp-exp" in shown and "metrics.json" in shown


@pytest.mark.slow
def test_the_imagenet_profile_runs_by_dvc_repro_on_the_users_tree(project, tmp_path):
    """`landmarks use imagenet` then `dvc repro`: the user's tree (a generated subset) is indexed,
    a cut-down ResNet-18 trains through the image pipeline, and the report shows it as a subset."""
    from imagenet_tree import make_tree

    make_tree(tmp_path / "tree", layout="official", classes=5, train=8, val=2)
    for path in (project / "benchmarks").glob("*.yaml"):
        if path.stem != "he2016-resnet-imagenet":
            path.unlink()
    path = project / "benchmarks" / "he2016-resnet-imagenet.yaml"
    data = yaml.safe_load(path.read_text())
    data["claims"], data["orderings"] = [c for c in data["claims"] if c["name"] == "ResNet-18"], []
    data["profiles"]["imagenet"].update(seeds=[0], recipe={
        "epochs": 1, "batch_size": 8, "images": {"size": 32, "eval_resize": 36, "eval_crops": 10, "workers": 0}})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["data"].update(imagenet=str(tmp_path / "tree"), imagenet_subset=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(["landmarks", "use", "imagenet"], project)
    out = sh(["dvc", "repro"], project)
    assert ran(out) == {"fetch@imagenet", "prepare@imagenet", "train@he2016-resnet-imagenet", "report"}
    manifest = json.loads((project / "data" / "prepared" / "imagenet" / "manifest.json").read_text())
    assert manifest["subset"] and manifest["layout"].startswith("official")
    table = (project / "reports" / "imagenet" / "tables" / "he2016-resnet-imagenet.md").read_text()
    assert "ResNet-18" in table and "reduced budget" in table


@pytest.mark.slow
def test_the_atari_cpu_profile_runs_by_dvc_repro_and_keeps_its_finished_runs(project):
    """`landmarks use atari-cpu` then `dvc repro`: the DQN landmark plays Pong on the emulator (a
    few thousand agent steps here), its report draws the curve, and each finished run leaves the
    record a fresh clone takes instead of playing again (the profile's runs take hours)."""
    from test_dqn_task import TINY

    lm = "mnih2015-dqn-atari"
    for path in (project / "benchmarks").glob("*.yaml"):
        if path.stem != lm:
            path.unlink()
    path = project / "benchmarks" / f"{lm}.yaml"
    data = yaml.safe_load(path.read_text())
    data["profiles"]["atari-cpu"].update(seeds=[0], recipe={"dqn": TINY})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    sh(["landmarks", "use", "atari-cpu"], project)
    out = sh(["dvc", "repro"], project)
    assert ran(out) == {"train-generated@mnih2015-dqn-atari", "report"}
    table = (project / "reports" / "atari-cpu" / "tables" / f"{lm}.md").read_text()
    assert "DQN, Pong" in table and "reduced budget" in table and "human, Pong" in table
    kept = json.loads((project / "runs" / "atari-cpu" / lm / "DQN_Pong-seed0.json").read_text())
    assert kept["row"]["info.agent_steps"] == TINY["steps"] and kept["history"]


def test_dvc_plots_show_the_reports_figures_offline(project):
    """`dvc plots show` gives a page of the report's figures that loads nothing from the network."""
    shutil.copytree(ROOT / "reports" / "quick" / "figures", project / "reports" / "quick" / "figures")
    sh(["dvc", "plots", "show", "-o", "plots-page"], project)
    page = (project / "plots-page" / "index.html").read_text()
    assert "<img" in page and "digits-linear-mlp-cnn" in page
    assert "http://" not in page and "https://" not in page
