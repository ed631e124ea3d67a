"""The summary with pandas: one row per claim, per other metric a claim publishes, per value of a
cited result and per ordering, each with its numbers, its result against the band, the fidelity
of its recipe and its verdict (`landmarks.judging.verdicts` says how they are decided).

    landmarks report --profile classic     # reports/classic/summary.csv
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from landmarks.catalog import MINOR, PAPER, REDUCED, Landmark
from landmarks.metrics import METRICS
from landmarks.run_files import read_outputs
from landmarks.judging.tolerance import tolerance_for
from landmarks.judging.verdicts import CITED, Judgement, claim_band, claim_verdict, ordering_verdict, ratio_verdict
from landmarks.stats import (interval, ordering_p_value, ratio_interval, ratio_seeds_needed, seeds_needed,
                             stated_number_tolerance)

SUMMARY_COLUMNS = [
    "landmark", "claim", "model", "parameters", "metric", "check", "paper", "mean", "std", "n", "censored",
    "ci95_low", "ci95_high", "difference", "tolerance", "tolerance_rule", "band_position", "result", "outcome",
    "seeds_needed", "p_value", "p_reversed", "verdict", "fidelity", "source",
]


def load_results(models_dir: Path) -> tuple[pd.DataFrame, list[dict]]:
    """All runs under models/<profile>/*/metrics.json as one tidy frame, plus the raw documents."""
    docs = [read_outputs(p.parent) for p in sorted(models_dir.glob("*/metrics.json"))]
    rows = [run for doc in docs for run in doc["runs"]]
    return pd.DataFrame(rows), docs


def run_fidelity(lm: Landmark, runs: pd.DataFrame) -> str:
    """The fidelity of a landmark's runs to the paper's recipe (`Landmark.fidelity`). Runs on a
    subset of their dataset (some of ImageNet's classes or images) are a reduced budget whatever
    the profile says; runs of a profile the catalog no longer has keep the flag they recorded."""
    profile = str(runs["profile"].iloc[0])
    if profile in lm.profiles:
        fidelity = lm.fidelity(profile)
    else:
        fidelity = REDUCED if bool(runs["reduced_budget"].iloc[0]) else PAPER
    subset = "info.data_subset" in runs and runs["info.data_subset"].eq(True).any()
    if subset and REDUCED not in fidelity:
        return REDUCED if fidelity in (PAPER, MINOR) else f"{fidelity}, {REDUCED}"
    return fidelity


def _row(lm: Landmark, judged: Judgement | None = None, **cells: Any) -> dict:
    """A summary row: the cells given (and a judgement's), every other column empty."""
    if judged is not None:
        cells |= {"verdict": judged.verdict, "result": judged.result, "outcome": judged.outcome,
                  "band_position": judged.position}
    return {**dict.fromkeys(SUMMARY_COLUMNS), "landmark": lm.id, "tolerance_rule": "", "band_position": "",
            "result": "", "outcome": "", **cells}


def _values(sel: pd.DataFrame, column: str, censorable: bool) -> tuple[list[float], int]:
    """The runs' values of a column, and how many runs have none where a run may end without one
    (censored: it never reached its threshold). Elsewhere a missing value is a run that did not
    record that metric, and is left out."""
    raw = [float(v) for v in sel[column]] if column in sel else []
    values = [v for v in raw if not math.isnan(v)]
    return values, (len(raw) - len(values)) if censorable else 0


def _claim_row(lm: Landmark, claim: Any, sel: pd.DataFrame, fidelity: str, also: str | None = None) -> dict | None:
    """The row of a claim's published value, or with `also` of its value of that other metric,
    read from the runs' `metric.<also>` column (None when the runs did not record it)."""
    metric, paper = (lm.metric_of(claim), claim.paper) if also is None else (also, claim.also[also])
    info = METRICS.get(metric)
    values, censored = _values(sel, "value" if also is None else f"metric.{also}", info.censored)
    if also is not None and not values:
        return None
    mean = sum(values) / len(values) if values else math.nan
    low, high = interval(values, info.kind, info.bounds, deterministic=claim.seed_independent)
    banded = paper is not None and claim.check == "mean_within"
    tolerance, rule = tolerance_for(lm, claim, also) if banded else (None, "")
    judged = claim_verdict(claim.check, paper, values, tolerance, (low, high), info.lower_is_better, fidelity)
    seeds = None
    if paper is not None and claim.check.startswith("mean_") and not claim.seed_independent and values:
        band = claim_band(claim.check, paper, tolerance)
        # around the measured mean when it lies in the band; else what a run at the paper's value would need
        seeds = seeds_needed(values, info.kind, mean if band[0] <= mean <= band[1] else paper, band)
    params = sel["info.parameters"].iloc[0] if "info.parameters" in sel and sel["info.parameters"].notna().any() else None
    return _row(
        lm, judged, claim=claim.name, model=claim.model, parameters=params, metric=metric, check=claim.check,
        paper=paper, mean=mean, std=float(pd.Series(values).std()) if len(values) > 1 else 0.0, n=len(values),
        censored=censored, ci95_low=low, ci95_high=high, difference=None if paper is None else mean - paper,
        tolerance=tolerance, tolerance_rule=rule, seeds_needed=seeds, fidelity=fidelity, source=claim.source,
    )


def _reference_rows(lm: Landmark, fidelity: str, ran: set[str]) -> list[dict]:
    """One row per published value of each result the paper cites for comparison (never run
    here), beside the claims that were run."""
    return [_row(lm, claim=ref.name, model="", metric=metric, paper=value, verdict=CITED, fidelity=fidelity,
                 source=ref.source)
            for ref in lm.references if ref.shown_with(ran) for metric, value in ref.values.items()]


def _ratio_cells(order: Any, groups: Sequence[list[float]], p: tuple[float, float], fidelity: str) -> dict:
    """The cells of a ratio claim: the ratio of the first claim's mean to the last one's, its
    delta-method interval, and its band from the rule for a number read off a figure (or the
    tolerance the catalog states)."""
    a, b = groups[0], groups[-1]
    ratio = (sum(a) / len(a)) / (sum(b) / len(b)) if a and b and sum(b) else math.nan
    low, high = ratio_interval(a, b)
    if order.ratio_tolerance is not None:
        tolerance, rule = order.ratio_tolerance, f"stated: {' '.join(order.ratio_tolerance_reason.split())}"
    else:
        tolerance, rule = stated_number_tolerance(order.ratio)
    band = (order.ratio - tolerance, order.ratio + tolerance)
    judged = ratio_verdict(ratio, (low, high), band, *p, fidelity)
    centre = ratio if band[0] <= ratio <= band[1] else order.ratio
    return dict(judged=judged, check="ratio", paper=order.ratio, mean=ratio, ci95_low=low, ci95_high=high,
                difference=ratio - order.ratio, tolerance=tolerance, tolerance_rule=rule,
                seeds_needed=ratio_seeds_needed(a, b, centre, band))


def _ordering_row(lm: Landmark, order: Any, runs: pd.DataFrame, fidelity: str) -> dict | None:
    metric = order.metric or lm.metric
    column = "value" if metric == lm.metric else f"metric.{metric}"
    if column not in runs:
        return None
    info = METRICS.get(metric)
    groups = [_values(runs[runs["claim"] == n], column, info.censored)[0] for n in order.claims]
    fixed = [lm.claim(n).seed_independent for n in order.claims]
    # a claim none of whose runs has a value (all censored) leaves nothing to test
    p = ordering_p_value(groups, info.lower_is_better, fixed) if all(groups) else (math.nan, math.nan)
    name = f"ordering of {metric}: " + (" > " if info.lower_is_better else " < ").join(order.claims)
    cells = dict(model="", metric=metric, p_value=p[0], p_reversed=p[1], fidelity=fidelity, source=order.source)
    if order.ratio is None:
        return _row(lm, ordering_verdict(*p, fidelity), claim=name, check="ordering", **cells)
    return _row(lm, claim=name + " (ratio)", **cells, **_ratio_cells(order, groups, p, fidelity))


def summarize(results: pd.DataFrame, catalog: Mapping[str, Landmark]) -> pd.DataFrame:
    """One row per claim (then one per other metric it publishes, `also`), one per value of a
    cited reference, then one per ordering: paper, mean +- std (n, censored), interval,
    tolerance, where the interval lies against the band, the seeds that would fit it inside,
    p-values (orderings), result, fidelity and verdict."""
    out = []
    for lm_id, runs in results.groupby("landmark", sort=True):
        lm = catalog.get(lm_id)
        if lm is None:
            continue
        fidelity = run_fidelity(lm, runs)
        ran = set(runs["claim"])
        for c in (c for c in lm.claims if c.name in ran):
            sel = runs[runs["claim"] == c.name]
            out += [row for key in (None, *c.also) if (row := _claim_row(lm, c, sel, fidelity, key))]
        out += _reference_rows(lm, fidelity, ran)
        for order in lm.orderings:
            if set(order.claims) <= ran and (row := _ordering_row(lm, order, runs, fidelity)):
                out.append(row)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)
