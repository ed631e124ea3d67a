"""What `dvc metrics show` reads. A table of every number of every claim is thousands of
characters wide, so the declared metrics are one small file per landmark,
`reports/<profile>/verdicts/<landmark>.json`: how many of its claims (and orderings) each kind of
verdict went to, a row each in a normal terminal. Every number stays in
`reports/<profile>/metrics.json` (`dvc metrics show --json reports/<profile>/metrics.json`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from landmarks.files import write_atomic
from landmarks.judging.verdicts import (BETTER, CITED, HOLDS, INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, REVERSED,
                                        VIOLATED)

# the columns `dvc metrics show` prints, in its (alphabetical) order
KINDS = ("better", "not_judged", "not_reproduced", "open", "reproduced")


def verdict_kind(verdict: str) -> str:
    """A verdict's column: on the paper's number (reproduced, better, not_reproduced, or open where
    more seeds would decide), or not_judged (a modified recipe, a reduced budget, no paper value)."""
    if verdict in (REPRODUCED, HOLDS):
        return "reproduced"
    if verdict == BETTER:
        return "better"
    if verdict in (NOT_REPRODUCED, REVERSED, VIOLATED):
        return "not_reproduced"
    return "open" if verdict.startswith(INCONCLUSIVE) else "not_judged"


def verdict_counts(summary: pd.DataFrame) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in summary[summary["verdict"] != CITED].to_dict("records"):  # cited rows: the paper's, not measured
        counts = out.setdefault(r["landmark"], dict.fromkeys(KINDS, 0))
        counts[verdict_kind(str(r["verdict"]))] += 1
    return out


def verdict_metrics(summary: pd.DataFrame) -> dict:
    """metrics.json: per landmark and claim (or ordering), the paper value, the runs' mean, std, n
    (and censored), 95% interval, tolerance, seeds needed, p-values, result, fidelity and verdict."""
    out: dict = {}
    keys = ("paper", "mean", "std", "n", "censored", "ci95_low", "ci95_high", "tolerance", "seeds_needed", "p_value",
            "p_reversed", "result", "fidelity", "verdict")
    for r in summary[summary["verdict"] != CITED].to_dict("records"):
        values = {k: r[k] for k in keys if not _missing(r[k])}
        claims = out.setdefault(r["landmark"], {})
        # a claim's row comes first; the rows of other metrics it publishes (`also`) follow it
        name = r["claim"] if r["claim"] not in claims else f"{r['claim']} ({r['metric']})"
        claims[name] = {
            k: (v if isinstance(v, str) else round(float(v), 6)) for k, v in values.items()}
    return out


def _missing(value: object) -> bool:
    return value is None or value == "" or (isinstance(value, float) and math.isnan(value))


def write_metrics(summary: pd.DataFrame, out_dir: Path) -> None:
    """metrics.json, and verdicts/<landmark>.json for each landmark of the summary (those of
    landmarks no longer in it removed)."""
    write_atomic(out_dir / "metrics.json", json.dumps(verdict_metrics(summary), indent=1) + "\n")
    folder = out_dir / "verdicts"
    folder.mkdir(parents=True, exist_ok=True)
    counts = verdict_counts(summary)
    for stale in folder.glob("*.json"):
        if stale.stem not in counts:
            stale.unlink()
    for landmark, row in counts.items():
        write_atomic(folder / f"{landmark}.json", json.dumps(row, indent=1) + "\n")
