"""`landmarks compare A B`: two report folders side by side, and whether their runs differ."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

BIN = Path(sys.executable).parent


def _copy(root: Path, dst: Path) -> Path:
    dst.mkdir(parents=True)
    for name in ("summary.csv", "results.csv"):
        shutil.copy(root / "reports" / "quick" / name, dst / name)
    return dst


def _compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "landmarks"), "compare", *args], capture_output=True, text=True, timeout=120)


def _rows(out: str) -> dict[str, list[str]]:
    """The table's rows by claim, each as its cells."""
    lines = [ln for ln in out.splitlines() if ln.startswith("| ") and not ln.startswith("| landmark")]
    cells = [[c.strip() for c in ln.strip().strip("|").split("|")] for ln in lines]
    return {c[1]: c for c in cells}


def test_the_same_results_do_not_differ_and_shifted_runs_do(root, tmp_path):
    a = _copy(root, tmp_path / "a")
    b = _copy(root, tmp_path / "b")
    same = _compare(str(a), str(b))
    assert same.returncode == 0, same.stderr
    rows = _rows(same.stdout)
    assert rows and all(r[4] == "0" for r in rows.values())  # B - A
    assert {r[6] for r in rows.values() if r[6]} == {"no"}

    # the small CNN's runs two points worse on the other machine: its row says they differ
    results = pd.read_csv(b / "results.csv")
    results.loc[results["claim"] == "small cnn", "value"] += 2.0
    results.to_csv(b / "results.csv", index=False)
    summary = pd.read_csv(b / "summary.csv")
    summary.loc[summary["claim"] == "small cnn", "mean"] += 2.0
    summary.to_csv(b / "summary.csv", index=False)
    shifted = _rows(_compare(str(a), str(b)).stdout)
    assert shifted["small cnn"][4] == "+2" and shifted["small cnn"][6] == "yes"
    assert shifted["mlp 64x100"][6] == "no"


def test_a_folder_that_is_no_report_is_named(tmp_path, root):
    out = _compare(str(tmp_path), str(root / "reports" / "quick"))
    assert out.returncode == 2 and f"{tmp_path}: not a report folder" in out.stderr
