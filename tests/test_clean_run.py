"""A clean run stays clean: `make reproduce` in a fresh clone of a project whose reports and dvc.lock
were committed trains again and leaves `git status` empty (times and MLflow ids go to untracked
run-info files; the commit a report names is the code's, not HEAD's)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_pipeline import ROOT, project, ran, sh  # noqa: F401 (project: the scratch pipeline fixture)

VENV = Path(sys.executable).parents[1]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]


def make_reproduce(cwd: Path) -> str:
    # -o: the venv this test runs in is used as it is (its pyproject.toml stamp is not remade)
    return sh(["make", "-o", f"{VENV}/.installed", "reproduce", f"VENV={VENV}"], cwd)


@pytest.mark.slow
def test_make_reproduce_in_a_fresh_clone_leaves_git_status_clean(project, tmp_path):
    for name in ("Makefile", ".gitignore"):
        shutil.copy(ROOT / name, project / name)
    sh([*GIT, "add", "-A"], project)
    sh([*GIT, "commit", "-qm", "the code"], project)
    first = make_reproduce(project)
    assert "train-generated@xor-backprop" in ran(first)
    sh([*GIT, "add", "-A"], project)
    sh([*GIT, "commit", "-qm", "its reports and dvc.lock"], project)
    tracked = sh(["git", "ls-files", "reports"], project).split()
    assert "reports/quick/results.csv" in tracked and "reports/quick/README.md" in tracked
    assert not any(p.endswith("run-info.csv") for p in tracked)
    # a commit to the docs afterwards is not a commit to the code the runs ran
    (project / "README.md").write_text("# a project\n")
    sh([*GIT, "add", "README.md"], project)
    sh([*GIT, "commit", "-qm", "docs"], project)

    clone = tmp_path / "clone"
    sh(["git", "clone", "-q", str(project), str(clone)], tmp_path)
    again = make_reproduce(clone)
    # the clone has no models/: every landmark trains again, and writes the bytes dvc.lock records,
    # so the report's inputs are unchanged and DVC leaves the committed report as it is
    assert {"train-generated@perceptron-convergence", "train-generated@xor-backprop"} <= ran(again)
    assert "report" not in ran(again)
    assert sh(["git", "status", "--porcelain"], clone) == ""
    # and the report built again from those runs is the same bytes
    assert ran(sh(["dvc", "repro", "--force", "--single-item", "report"], clone)) == {"report"}
    assert sh(["git", "status", "--porcelain"], clone) == ""

    # the times are there, beside the tracked files, and the runs are not called uncommitted
    info = json.loads((clone / "models" / "quick" / "xor-backprop" / "run-info.json").read_text())
    assert all(r["seconds"] > 0 for r in info["runs"])
    assert (clone / "reports" / "quick" / "run-info.csv").exists()
    readme = (clone / "reports" / "quick" / "README.md").read_text()
    code = subprocess.run(["git", "rev-parse", "HEAD~2"], cwd=clone, capture_output=True, text=True).stdout
    assert f"commit `{code[:12]}`" in readme and "uncommitted" not in readme
