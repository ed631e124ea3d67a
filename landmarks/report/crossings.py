"""Epochs to a threshold, read again from each run's training-error curve in history.csv.

Runs recorded before the crossing was interpolated stored whole epochs, and one more than the
epochs run for a run that never crossed; the report reads every such run's crossing off its curve
with the same function training uses (`landmarks.stats.threshold_crossing`), so old and new runs
are judged alike and a run that never crossed is censored.

    landmarks report --profile cifar-cpu    # AlexNet Fig. 1's epochs, from models/.../history.csv
"""

from __future__ import annotations

import math
from typing import Mapping

import pandas as pd

from landmarks.stats import threshold_crossing

METRIC = "epochs_to_threshold"


def _curves(history: pd.DataFrame) -> dict[tuple[str, int], list[tuple[float, float]]]:
    """(claim, seed) -> [(epoch, training error), ...] in epoch order."""
    if history.empty or not {"claim", "seed", "epoch", "train_error"} <= set(history):
        return {}
    ordered = history.sort_values("epoch")
    return {(str(claim), int(seed)): list(zip(g["epoch"].astype(float), g["train_error"].astype(float)))
            for (claim, seed), g in ordered.groupby(["claim", "seed"], sort=False)}


def reread_crossings(results: pd.DataFrame, docs: list[dict], histories: Mapping[str, pd.DataFrame]
                     ) -> tuple[pd.DataFrame, dict[str, int]]:
    """`results` with `value` and `metric.epochs_to_threshold` of every run measured in epochs to
    a threshold read off its curve (NaN: censored), and per landmark how many runs' stored
    values that changed. A run without a curve, or whose recipe names no threshold, keeps its
    stored value."""
    if "metric" not in results or not results["metric"].eq(METRIC).any():
        return results, {}
    out = results.copy()
    for column in ("value", f"metric.{METRIC}"):  # whole epochs were read as integers; NaN is a float
        if column in out:
            out[column] = out[column].astype(float)
    changed: dict[str, int] = {}
    for doc in docs:
        curves = _curves(histories.get(doc["landmark"], pd.DataFrame()))
        rows = out.index[(out["landmark"] == doc["landmark"]) & out["metric"].eq(METRIC)]
        for i in rows:
            claim, seed = str(out.at[i, "claim"]), int(out.at[i, "seed"])
            threshold = (doc.get("recipes", {}).get(claim) or {}).get("threshold")
            if not threshold or (claim, seed) not in curves:
                continue
            crossed = threshold_crossing(curves[(claim, seed)], float(threshold))
            value = math.nan if crossed is None else crossed
            stored = float(out.at[i, "value"])
            if not (value == stored or (math.isnan(value) and math.isnan(stored))):
                changed[doc["landmark"]] = changed.get(doc["landmark"], 0) + 1
            out.at[i, "value"] = value
            if f"metric.{METRIC}" in out:
                out.at[i, f"metric.{METRIC}"] = value
    return out, changed
