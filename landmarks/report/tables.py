"""Tables with pandas: tidy results (one row per run) and per-landmark paper-vs-reproduced tables."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd
from scipy import stats

from landmarks.catalog import Landmark
from landmarks.metrics import METRICS
from landmarks.report.verdicts import claim_verdict, ordering_verdict

SUMMARY_COLUMNS = [
    "landmark", "claim", "model", "parameters", "metric", "paper", "mean", "std", "n", "ci95_low", "ci95_high",
    "difference", "verdict", "reduced_budget", "source",
]


def load_results(models_dir: Path) -> tuple[pd.DataFrame, list[dict]]:
    """All runs under models/<profile>/*/metrics.json as one tidy frame, plus the raw documents."""
    docs = [json.loads(p.read_text()) for p in sorted(models_dir.glob("*/metrics.json"))]
    rows = [run for doc in docs for run in doc["runs"]]
    return pd.DataFrame(rows), docs


def _ci95(values: list[float]) -> tuple[float, float]:
    n = len(values)
    if n < 2:
        return (math.nan, math.nan)
    mean = sum(values) / n
    sem = stats.sem(values)
    if sem == 0:
        return (mean, mean)
    return tuple(float(x) for x in stats.t.interval(0.95, n - 1, loc=mean, scale=sem))


def summarize(results: pd.DataFrame, catalog: Mapping[str, Landmark]) -> pd.DataFrame:
    """One row per claim, then one per ordering: paper, mean +- std (n), CI, difference, verdict."""
    out = []
    for lm_id, runs in results.groupby("landmark", sort=True):
        lm = catalog.get(lm_id)
        if lm is None:
            continue
        reduced = bool(runs["reduced_budget"].iloc[0])
        means: dict[str, float] = {}
        for claim in lm.claims:
            sel = runs[runs["claim"] == claim.name]
            if sel.empty:
                continue
            values = [float(v) for v in sel["value"]]
            metric = lm.metric_of(claim)
            info = METRICS.get(metric)
            mean = sum(values) / len(values)
            means[claim.name] = mean
            low, high = _ci95(values)
            params = sel["info.parameters"].iloc[0] if "info.parameters" in sel and sel["info.parameters"].notna().any() else None
            out.append({
                "landmark": lm_id,
                "claim": claim.name,
                "model": claim.model,
                "parameters": params,
                "metric": metric,
                "paper": claim.paper,
                "mean": mean,
                "std": float(pd.Series(values).std()) if len(values) > 1 else 0.0,
                "n": len(values),
                "ci95_low": low,
                "ci95_high": high,
                "difference": None if claim.paper is None else mean - claim.paper,
                "verdict": claim_verdict(claim.check, claim.paper, values, lm.tolerance_of(claim),
                                         info.lower_is_better, reduced),
                "reduced_budget": reduced,
                "source": claim.source,
            })
        for order in lm.orderings:
            if not all(n in means for n in order.claims):
                continue
            metric = order.metric or lm.metric
            lower = METRICS.get(metric).lower_is_better
            sign = " > " if lower else " < "
            column = "value" if metric == lm.metric else f"metric.{metric}"
            if column not in runs:
                continue
            order_means = [float(runs[runs["claim"] == n][column].mean()) for n in order.claims]
            ratio = order_means[0] / order_means[-1] if order.ratio is not None and order_means[-1] else None
            out.append({
                "landmark": lm_id,
                "claim": f"ordering of {metric}: " + sign.join(order.claims) + (" (ratio)" if ratio is not None else ""),
                "model": "",
                "parameters": None,
                "metric": metric,
                "paper": order.ratio,
                "mean": ratio,
                "std": None,
                "n": None,
                "ci95_low": None,
                "ci95_high": None,
                "difference": None,
                "verdict": ordering_verdict(order_means, lower, reduced),
                "reduced_budget": reduced,
                "source": order.source,
            })
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _fmt(value: object, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.2f}{unit}" if unit == "%" else f"{value:.3g}"


def _params(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{int(n):,}"


def landmark_table(summary: pd.DataFrame, lm: Landmark) -> str:
    """Markdown shaped like a lecture's table: claim | paper | reproduced | difference | verdict."""
    rows = []
    for r in summary[summary["landmark"] == lm.id].to_dict("records"):
        unit = METRICS.get(r["metric"]).unit
        if r["n"] is None or (isinstance(r["n"], float) and math.isnan(r["n"])):
            ratio = r["mean"] is not None and not (isinstance(r["mean"], float) and math.isnan(r["mean"]))
            reproduced, ci = (f"ratio of means {r['mean']:.2f}" if ratio else "from the rows above"), ""
            unit = ""
        else:
            # a single run has no spread to show (a seed-independent SVC): "+- 0" would claim one
            spread = f" +- {_fmt(r['std'], unit)}" if r["n"] > 1 else ""
            reproduced = f"{_fmt(r['mean'], unit)}{spread} ({int(r['n'])})"
            ci = f"[{_fmt(r['ci95_low'], unit)}, {_fmt(r['ci95_high'], unit)}]" if r["n"] > 1 else ""
        diff = r["difference"]
        params = r.get("parameters")
        rows.append({
            "claim": r["claim"],
            "params": "" if params is None or (isinstance(params, float) and math.isnan(params)) else _params(params),
            "paper": _fmt(r["paper"], unit),
            "reproduced mean +- std (n)": reproduced,
            "95% CI": ci,
            "difference": "" if diff is None or math.isnan(diff) else (f"{diff:+.2f}" if unit == "%" else f"{diff:+.3g}"),
            "verdict": r["verdict"],
            "source": r["source"],
        })
    table = pd.DataFrame(rows)
    if not table["params"].any():
        table = table.drop(columns="params")
    return table.to_markdown(index=False)


def runs_at_chance(results: pd.DataFrame, landmark: str) -> list[str]:
    """'claim seed s (error%)' for each run of a landmark that ended at chance level."""
    if "info.at_chance" not in results:
        return []
    sel = results[(results["landmark"] == landmark) & results["info.at_chance"].eq(True)]  # NaN: older runs
    return [f"{r['claim']} seed {int(r['seed'])} ({r['metric.top1_error']:.2f}%)" for r in sel.to_dict("records")]
