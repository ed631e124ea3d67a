"""Two sets of results side by side: two machines, two commits, two PyTorch versions.

    landmarks compare reports/classic other-machine/reports/classic

Each argument is a report folder (`results.csv` and `summary.csv`, as `landmarks report` writes
them). Every claim both hold gets a row: each side's mean, interval, n and verdict, the
difference, and a two-sided Welch t-test on the runs themselves saying whether the two differ
by more than their seeds' noise (p < 0.05). Rows only one side holds are listed after.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
from scipy import stats

from landmarks.errors import ConfigError


def _read(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    paths = [folder / "summary.csv", folder / "results.csv"]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"{folder}: not a report folder (no {', '.join(missing)}); give reports/<profile> "
                          f"or a copy of one")
    return pd.read_csv(paths[0]), pd.read_csv(paths[1])


def _cell(row: pd.Series) -> str:
    if pd.isna(row.get("mean")):
        return ""
    interval = "" if pd.isna(row.get("ci95_low")) else f" [{row['ci95_low']:.3g}, {row['ci95_high']:.3g}]"
    return f"{row['mean']:.4g}{interval} (n={int(row['n'])})"


def _welch(a: pd.Series, b: pd.Series) -> float:
    """Two-sided p of Welch's t-test between two sides' runs; NaN where a side has under 2 runs."""
    a, b = a.dropna().astype(float), b.dropna().astype(float)
    if len(a) < 2 or len(b) < 2:
        return math.nan
    if a.std() == 0 and b.std() == 0:  # no spread on either side: equal or not, exactly
        return 1.0 if a.mean() == b.mean() else 0.0
    with warnings.catch_warnings():  # nearly equal sides: scipy warns of precision, the p is still right
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _difference(a: float, b: float) -> str:
    d = b - a
    return "0" if abs(d) <= 1e-9 * max(abs(a), abs(b), 1.0) else f"{d:+.3g}"  # float noise is no difference


def compare(a: Path, b: Path) -> tuple[pd.DataFrame, list[str]]:
    """(one row per claim both hold, the claims only one side holds)."""
    sa, ra = _read(a)
    sb, rb = _read(b)
    key = ["landmark", "claim"]
    claims = sa[sa["mean"].notna()].merge(sb[sb["mean"].notna()], on=key, suffixes=(" A", " B"))
    rows = []
    for _, r in claims.iterrows():
        runs_a = ra[(ra["landmark"] == r["landmark"]) & (ra["claim"] == r["claim"])]["value"]
        runs_b = rb[(rb["landmark"] == r["landmark"]) & (rb["claim"] == r["claim"])]["value"]
        p = _welch(runs_a, runs_b)
        side = {s: r[[c for c in r.index if c.endswith(f" {s}")]].rename(lambda c: c[:-2]) for s in "AB"}
        rows.append({
            "landmark": r["landmark"], "claim": r["claim"], "A": _cell(side["A"]), "B": _cell(side["B"]),
            "B - A": _difference(r["mean A"], r["mean B"]), "p (Welch)": "" if math.isnan(p) else f"{p:.3g}",
            "runs differ": "" if math.isnan(p) else ("yes" if p < 0.05 else "no"),
            "verdict A": r["verdict A"], "verdict B": r["verdict B"],
        })
    only = sorted({f"{lm}: {c} (only in {side})" for side, s, o in (("A", sa, sb), ("B", sb, sa))
                   for lm, c in s[s["mean"].notna()][key].itertuples(index=False)
                   if not ((o["landmark"] == lm) & (o["claim"] == c) & o["mean"].notna()).any()})
    return pd.DataFrame(rows), only
