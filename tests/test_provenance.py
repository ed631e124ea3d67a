"""Provenance: the git state that goes with every result, on a real repository."""

import subprocess

from landmarks.provenance import changed_files, cpu_name, git_state, hardware
from landmarks.report.build import _dirty


def _git(cwd, *args):
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                   capture_output=True)


def test_git_state_names_the_changed_files(tmp_path):
    _git(tmp_path, "init", "-q")
    for name in ("params.yaml", "dvc.lock", "code.py"):
        (tmp_path / name).write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "first")
    clean = git_state(str(tmp_path))
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] == "false" and clean["git_changed"] == ""

    # what the pipeline writes as it runs (DVC's lock between stages) leaves a run clean
    (tmp_path / "dvc.lock").write_text("b\n")
    _git(tmp_path, "add", "dvc.lock")  # a staged change: "M  dvc.lock"
    assert git_state(str(tmp_path))["git_dirty"] == "false"
    (tmp_path / "params.yaml").write_text("b\n")  # an unstaged change: porcelain line " M params.yaml"
    (tmp_path / "code.py").write_text("b\n")
    (tmp_path / "untracked.txt").write_text("not counted\n")
    state = git_state(str(tmp_path))
    assert state["git_dirty"] == "true"
    assert sorted(state["git_changed"].split(", ")) == ["code.py", "params.yaml"]
    assert _dirty(state) == f" (with uncommitted changes to {state['git_changed']})"
    assert _dirty(clean) == ""
    assert _dirty({"git_dirty": "true"}) == " (with uncommitted changes)"  # runs recorded before the list


DVC_YAML = """stages:
  train:
    foreach: ${landmarks}
    do:
      cmd: landmarks train ${key}
      deps:
        - benchmarks/${key}.yaml
        - landmarks/train
        - landmarks/metrics.py
  report:
    cmd: landmarks report
    deps:
      - landmarks/report
"""


def test_the_code_commit_is_the_newest_that_changed_what_training_runs(tmp_path):
    """A commit that adds a run's reports and dvc.lock, or edits the docs, the tests or the report's
    code, leaves the code's commit as it was: a fresh clone of it that trains again records the
    commit the committed results name. The training stages' deps in dvc.yaml say what counts."""
    _git(tmp_path, "init", "-q")
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    for name in ("landmarks/train/loop.py", "landmarks/report/build.py", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "code")
    code = git_state(str(tmp_path))["git_commit"]
    for name in ("dvc.lock", "reports/quick/results.csv", "runs/paper/x/a-seed0.json", "docs/recipes.md",
                 "tests/test_x.py", "landmarks/report/build.py", "landmarks/cli.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("b\n")
        _git(tmp_path, "add", name)
        _git(tmp_path, "commit", "-q", "-m", f"change {name}")
        state = git_state(str(tmp_path))
        assert state["code_commit"] == code != state["git_commit"], name
    for name in ("landmarks/train/loop.py", "landmarks/metrics.py", "benchmarks/x.yaml", "params.yaml",
                 "pyproject.toml", "dvc.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        with (tmp_path / name).open("a") as f:
            f.write("# changed\n")
        _git(tmp_path, "add", name)
        _git(tmp_path, "commit", "-qm", f"change {name}")
        state = git_state(str(tmp_path))
        assert state["code_commit"] == state["git_commit"] != code, name
        code = state["code_commit"]


def test_without_a_dvc_yaml_the_whole_package_counts(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "landmarks").mkdir()
    (tmp_path / "landmarks" / "cli.py").write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "code")
    code = git_state(str(tmp_path))["git_commit"]
    (tmp_path / "README.md").write_text("a\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "docs")
    assert git_state(str(tmp_path))["code_commit"] == code


def test_changed_files_renames_and_limit():
    assert changed_files("R  old.py -> new.py\n M a.py\n") == "new.py, a.py"
    many = "".join(f" M f{i}.py\n" for i in range(12))
    assert changed_files(many, limit=10).endswith("f9.py and 2 more")
    assert changed_files("") == ""


def test_the_cpu_is_recorded_by_its_model_name():
    """Linux's platform.processor() says only "x86_64"; the model name is what tells a reader
    whether the CPU has AMX or only AVX512-BF16 (the CPU fast path's ceiling)."""
    import platform
    from pathlib import Path

    import torch

    name = hardware(torch.device("cpu"))["hardware.cpu"]
    cpuinfo = Path("/proc/cpuinfo")
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
              if line.startswith("model name")] if cpuinfo.exists() else []
    assert name == (models[0] if models else platform.processor() or platform.machine())
    assert name == cpu_name() and name
