"""Tables with pandas: tidy results (one row per run) and per-landmark paper-vs-reproduced tables."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from landmarks.catalog import Landmark
from landmarks.metrics import METRICS
from landmarks.registries import tolerance_for
from landmarks.report.verdicts import CITED, claim_verdict, ordering_verdict
from landmarks.stats import interval, ordering_p_value, ratio_interval

SUMMARY_COLUMNS = [
    "landmark", "claim", "model", "parameters", "metric", "paper", "mean", "std", "n", "ci95_low", "ci95_high",
    "difference", "tolerance", "tolerance_rule", "band_position", "p_value", "verdict", "budget", "source",
]


def load_results(models_dir: Path) -> tuple[pd.DataFrame, list[dict]]:
    """All runs under models/<profile>/*/metrics.json as one tidy frame, plus the raw documents."""
    docs = [json.loads(p.read_text()) for p in sorted(models_dir.glob("*/metrics.json"))]
    rows = [run for doc in docs for run in doc["runs"]]
    return pd.DataFrame(rows), docs


def run_budget(lm: Landmark, runs: pd.DataFrame) -> str:
    """What a landmark's runs may claim: "paper", "reduced budget" or "modified recipe". Runs on a
    subset of their dataset (some of ImageNet's classes or images) are a reduced budget whatever
    the profile says."""
    if "info.data_subset" in runs and runs["info.data_subset"].eq(True).any():
        return "reduced budget"
    profile = str(runs["profile"].iloc[0])
    if profile in lm.profiles:
        return lm.budget(profile)
    return "reduced budget" if bool(runs["reduced_budget"].iloc[0]) else "paper"


def _row(lm: Landmark, **cells: Any) -> dict:
    """A summary row: the cells given, every other column empty."""
    return {**dict.fromkeys(SUMMARY_COLUMNS), "landmark": lm.id, "tolerance_rule": "", "band_position": "", **cells}


def _claim_row(lm: Landmark, claim: Any, sel: pd.DataFrame, budget: str, also: str | None = None) -> dict | None:
    """The row of a claim's published value, or with `also` of its value of that other metric,
    read from the runs' `metric.<also>` column (None when the runs did not record it)."""
    if also is None:
        metric, paper, values = lm.metric_of(claim), claim.paper, [float(v) for v in sel["value"]]
    else:
        column = f"metric.{also}"
        metric, paper = also, claim.also[also]
        values = [float(v) for v in sel[column].dropna()] if column in sel else []
        if not values:
            return None
    info = METRICS.get(metric)
    mean = sum(values) / len(values)
    low, high = interval(values, info.kind, info.bounds, deterministic=claim.seed_independent)
    banded = paper is not None and claim.check == "mean_within"
    tolerance, rule = tolerance_for(lm, claim, also) if banded else (None, "")
    verdict, position = claim_verdict(claim.check, paper, values, tolerance, (low, high),
                                      info.lower_is_better, budget)
    params = sel["info.parameters"].iloc[0] if "info.parameters" in sel and sel["info.parameters"].notna().any() else None
    return _row(
        lm, claim=claim.name, model=claim.model, parameters=params, metric=metric, paper=paper, mean=mean,
        std=float(pd.Series(values).std()) if len(values) > 1 else 0.0, n=len(values), ci95_low=low, ci95_high=high,
        difference=None if paper is None else mean - paper, tolerance=tolerance, tolerance_rule=rule,
        band_position=position, verdict=verdict, budget=budget, source=claim.source,
    )


def _reference_rows(lm: Landmark, budget: str) -> list[dict]:
    """One row per published value of each result the paper cites for comparison: never run here."""
    return [_row(lm, claim=ref.name, model="", metric=metric, paper=value, verdict=CITED, budget=budget,
                 source=ref.source)
            for ref in lm.references for metric, value in ref.values.items()]


def _ordering_row(lm: Landmark, order: Any, runs: pd.DataFrame, budget: str) -> dict | None:
    metric = order.metric or lm.metric
    column = "value" if metric == lm.metric else f"metric.{metric}"
    if column not in runs:
        return None
    lower = METRICS.get(metric).lower_is_better
    groups = [[float(v) for v in runs[runs["claim"] == n][column]] for n in order.claims]
    fixed = [lm.claim(n).seed_independent for n in order.claims]
    p_claimed, p_reverse = ordering_p_value(groups, lower, fixed)
    means = [sum(g) / len(g) for g in groups]
    ratio = means[0] / means[-1] if order.ratio is not None and means[-1] else None
    low, high = ratio_interval(groups[0], groups[-1]) if ratio is not None else (None, None)
    sign = " > " if lower else " < "
    return _row(
        lm, claim=f"ordering of {metric}: " + sign.join(order.claims) + (" (ratio)" if ratio is not None else ""),
        model="", metric=metric, paper=order.ratio, mean=ratio, ci95_low=low, ci95_high=high, p_value=p_claimed,
        verdict=ordering_verdict(p_claimed, p_reverse, budget), budget=budget, source=order.source,
    )


def summarize(results: pd.DataFrame, catalog: Mapping[str, Landmark]) -> pd.DataFrame:
    """One row per claim (then one per other metric it publishes, `also`), one per value of a
    cited reference, then one per ordering: paper, mean +- std (n), interval, tolerance, where
    the interval lies against the band, p-value (orderings), verdict."""
    out = []
    for lm_id, runs in results.groupby("landmark", sort=True):
        lm = catalog.get(lm_id)
        if lm is None:
            continue
        budget = run_budget(lm, runs)
        ran = set(runs["claim"])
        for c in (c for c in lm.claims if c.name in ran):
            sel = runs[runs["claim"] == c.name]
            out += [row for key in (None, *c.also) if (row := _claim_row(lm, c, sel, budget, key))]
        out += _reference_rows(lm, budget)
        for order in lm.orderings:
            if set(order.claims) <= ran and (row := _ordering_row(lm, order, runs, budget)):
                out.append(row)
    return pd.DataFrame(out, columns=SUMMARY_COLUMNS)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: object, unit: str) -> str:
    if _missing(value):
        return ""
    return f"{value:.2f}{unit}" if unit == "%" else f"{value:.3g}"


def _params(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{int(n):,}"


def _p(value: float) -> str:
    return "" if _missing(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def _verdict_cell(r: dict) -> str:
    """A profile that is not the paper's recipe still says where its interval lies against the
    band: 'modified recipe (below the band)'."""
    if r["budget"] != "paper" and r["verdict"] == r["budget"] and r["band_position"]:
        return f"{r['verdict']} ({r['band_position']} the band)"
    return r["verdict"]


DIFFERENCE = "difference (reproduced − paper)"


def table_rows(summary: pd.DataFrame, lm: Landmark) -> list[dict]:
    """The cells of a landmark's table, formatted, one dict per claim or ordering (shared by the
    markdown and the HTML report); `verdict_raw` is the verdict without the band position."""
    rows = []
    records = summary[summary["landmark"] == lm.id].to_dict("records")
    # a table with rows of several metrics (top-1 and top-5 error) names each row's; else the
    # line under the table does
    mixed = len({r["metric"] for r in records}) > 1
    for r in records:
        unit = METRICS.get(r["metric"]).unit
        points = " pts" if unit == "%" else ""
        if r["verdict"] == CITED:  # the paper's value alone: nothing was run
            reproduced, ci = "", ""
        elif _missing(r["n"]):
            reproduced = f"ratio of means {r['mean']:.2f}" if not _missing(r["mean"]) else "from the rows above"
            ci = f"[{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]" if not _missing(r["ci95_low"]) else ""
            unit = ""
        else:
            # a single run has no spread to show (a seed-independent SVC): "± 0" would claim one
            spread = f" ± {_fmt(r['std'], unit)}" if r["n"] > 1 else ""
            reproduced = f"{_fmt(r['mean'], unit)}{spread} ({int(r['n'])})"
            ci = f"[{_fmt(r['ci95_low'], unit)}, {_fmt(r['ci95_high'], unit)}]" if not _missing(r["ci95_low"]) else ""
        diff, tol = r["difference"], r["tolerance"]
        rows.append({
            "claim": r["claim"],
            "metric": r["metric"] if mixed else "",
            "params": "" if _missing(r.get("parameters")) else _params(r["parameters"]),
            "paper": _fmt(r["paper"], unit),
            "reproduced mean ± std (n)": reproduced,
            "95% interval": ci,
            DIFFERENCE: "" if _missing(diff) else (f"{diff:+.2f}{points}" if unit == "%" else f"{diff:+.3g}"),
            "tolerance": "" if _missing(tol) else f"± {tol:.2f}{points}" if unit == "%" else f"± {tol:.3g}",
            "p": _p(r["p_value"]),
            "verdict": _verdict_cell(r),
            "source": r["source"],
            "verdict_raw": r["verdict"],
        })
    return rows


def parent_verdicts(rows: list[dict], lm: Landmark) -> tuple[list[dict], str]:
    """A landmark's finished runs -> (one record per claim, its table): what the MLflow parent run
    holds (`runner.train_landmark`'s `verdicts`)."""
    summary = summarize(pd.DataFrame(rows), {lm.id: lm})
    return summary.to_dict("records"), landmark_table(summary, lm)


def landmark_table(summary: pd.DataFrame, lm: Landmark) -> str:
    """Markdown shaped like a lecture's table: claim | paper | reproduced | interval | difference |
    tolerance | verdict."""
    rows = table_rows(summary, lm)
    return pd.DataFrame(rows, columns=shown_columns(rows)).to_markdown(index=False)


def shown_columns(rows: list[dict]) -> list[str]:
    """The columns of a landmark's table: all but those optional ones no row fills."""
    optional = ("metric", "params", "p")
    return [c for c in rows[0] if c != "verdict_raw" and (c not in optional or any(r[c] for r in rows))]


def tolerance_rules(summary: pd.DataFrame, lm: Landmark) -> list[str]:
    """'claim: rule' for every claim whose tolerance a rule set; 'claim (metric): rule' for the
    value of another metric it publishes (`also`)."""
    out = []
    for r in summary[(summary["landmark"] == lm.id) & (summary["tolerance_rule"] != "")].to_dict("records"):
        own = r["metric"] == lm.metric_of(lm.claim(r["claim"]))
        out.append(f"{r['claim']}{'' if own else ' (' + r['metric'] + ')'}: {r['tolerance_rule']}")
    return out


def runs_at_chance(results: pd.DataFrame, landmark: str) -> list[str]:
    """'claim seed s (error%)' for each run of a landmark that ended at chance level."""
    if "info.at_chance" not in results:
        return []
    sel = results[(results["landmark"] == landmark) & results["info.at_chance"].eq(True)]  # NaN: older runs
    return [f"{r['claim']} seed {int(r['seed'])} ({r['metric.top1_error']:.2f}%)" for r in sel.to_dict("records")]


def lecture_table(summary: pd.DataFrame, lm: Landmark) -> str | None:
    """Markdown in the lecture's layout, where a landmark has top-1 and top-5 rows: one line per
    model, run or cited, with the paper's and the reproduced top-1 and top-5 error side by side
    (AlexNet's Tables 1 and 2). None for other landmarks."""
    sel = summary[(summary["landmark"] == lm.id) & summary["metric"].isin(["top1_error", "top5_error"])
                  & ~summary["claim"].str.startswith("ordering of ")]
    if sel["metric"].nunique() < 2:
        return None
    lines: dict[str, dict] = {}
    for r in sel.to_dict("records"):
        k = "top-1" if r["metric"] == "top1_error" else "top-5"
        line = lines.setdefault(r["claim"], {"model": r["claim"]})
        line[f"{k} paper"] = _fmt(r["paper"], "%")
        if r["verdict"] == CITED:
            line[f"{k} reproduced"] = "not re-run"
        else:
            spread = f" ± {r['std']:.2f}" if r["n"] > 1 else ""
            line[f"{k} reproduced"] = f"{r['mean']:.2f}%{spread} ({int(r['n'])})"
    columns = ["model", "top-1 paper", "top-1 reproduced", "top-5 paper", "top-5 reproduced"]
    return pd.DataFrame(list(lines.values()), columns=columns).fillna("").to_markdown(index=False)
