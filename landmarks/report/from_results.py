"""A profile's report rebuilt from its committed `results.csv` instead of `models/<profile>/`: the
same tables, verdicts and pages under the current rules, without training again (the runs'
folders may be on another machine, or gone). The learning curves are per-run histories that
results.csv does not hold, so the figures and curves/ already in the report are kept as they are.

    landmarks report --profile classic --from-results reports/classic/results.csv
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from landmarks.errors import ConfigError
from landmarks.report.run_info import with_run_info

NEEDED = ("landmark", "profile", "claim", "seed", "metric", "value", "machine")


def _clean(row: dict) -> dict:
    """A CSV row as metrics.json would hold it: the empty cells of other landmarks' columns dropped."""
    return {k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}


def docs_from_results(path: Path, profile: str) -> tuple[pd.DataFrame, list[dict]]:
    """(the runs, one metrics.json-like document per landmark) from a report's results.csv."""
    try:
        results = with_run_info(pd.read_csv(path), path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read as a report's results.csv ({exc})") from None
    missing = [c for c in NEEDED if c not in results.columns]
    if not {"code_commit", "git_commit"} & set(results.columns):
        missing.append("code_commit")
    if missing:
        raise ConfigError(f"{path}: not a report's results.csv (no column {', '.join(missing)})")
    others = sorted(set(results["profile"].astype(str)) - {profile})
    if others:
        raise ConfigError(f"{path}: holds runs of profile {', '.join(others)}, not only {profile!r}; give --profile "
                          f"the profile the file belongs to")
    docs = []
    for lm_id, runs in results.groupby("landmark", sort=True):
        # the code's commit; rows written before it was kept name HEAD when they ran
        commit = runs["code_commit"] if "code_commit" in runs else runs["git_commit"]
        if "code_commit" in runs and "git_commit" in runs:
            commit = commit.fillna(runs["git_commit"])
        hashes = sorted(str(h) for h in runs.get("info.data_hash", pd.Series(dtype=str)).dropna().unique())
        docs.append({
            "landmark": lm_id, "profile": profile,
            "provenance": {"code_commit": commit.astype(str).value_counts().index[0], "data_hashes": hashes,
                           "version.torch": "",
                           "git_dirty": "false", "rebuilt_from": str(path)},
            "recipes": {}, "runs": [_clean(r) for r in runs.to_dict("records")],
        })
    return results, docs
