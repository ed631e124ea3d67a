"""The report's tables, formatted from the summary (`landmarks.report.summary`): one per landmark,
shaped like a paper's table (claim | paper | reproduced | interval | difference | tolerance |
seeds needed | p | verdict), in markdown and, through the same cells, in the HTML report."""

from __future__ import annotations

import math

import pandas as pd

from landmarks.catalog import MINOR, Landmark
from landmarks.metrics import METRICS
from landmarks.report.summary import SUMMARY_COLUMNS, load_results, run_fidelity, summarize
from landmarks.judging.verdicts import CITED, MORE_SEEDS, NOT_REPRODUCED, REVERSED

__all__ = ["SUMMARY_COLUMNS", "landmark_table", "lecture_table", "load_results", "run_fidelity", "runs_at_chance",
           "shown_columns", "summarize", "table_rows", "tolerance_rules"]
HIDDEN = ("verdict_raw", "outcome")  # what a row carries for the HTML page's colours, not a column


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
    """The verdict and what backs it: about how many seeds would decide, a reversed order's p,
    the side of a ratio's band, minor departures from the paper's recipe."""
    text = r["verdict"]
    if MORE_SEEDS in text and not _missing(r["seeds_needed"]):
        text = text.replace(MORE_SEEDS, f"{MORE_SEEDS} (about {int(r['seeds_needed']):,})")
    if text == REVERSED:
        p = _p(r["p_reversed"])
        text += f" (p {p})" if p.startswith("<") else f" (p = {p})"
    if text == NOT_REPRODUCED and r["check"] == "ratio":  # too large a ratio is as far off as too small
        text += f" ({r['result']})"
    if r["fidelity"] == MINOR and r["outcome"]:
        text += f"; {MINOR}"
    return text


def _reproduced(r: dict, unit: str) -> tuple[str, str]:
    """(the reproduced value with its spread and runs, its 95% interval) as the table shows them."""
    if r["verdict"] == CITED:  # the paper's value alone: nothing was run
        return "", ""
    if r["check"] in ("ordering", "ratio"):
        ci = f"[{r['ci95_low']:.2f}, {r['ci95_high']:.2f}]" if not _missing(r["ci95_low"]) else ""
        return (f"ratio of means {r['mean']:.2f}" if not _missing(r["mean"]) else "from the rows above"), ci
    # a single run has no spread to show (a seed-independent SVC): "± 0" would claim one
    spread = f" ± {_fmt(r['std'], unit)}" if r["n"] > 1 else ""
    runs = f"{int(r['n'])}; {int(r['censored'])} censored" if r["censored"] else f"{int(r['n'])}"
    ci = f"[{_fmt(r['ci95_low'], unit)}, {_fmt(r['ci95_high'], unit)}]" if not _missing(r["ci95_low"]) else ""
    return f"{_fmt(r['mean'], unit)}{spread} ({runs})", ci


def _paper(r: dict, unit: str) -> str:
    """The paper's value; the side of it for a claim made in words (most seeds: > 0.5)."""
    side = {"mean_above": "> ", "mean_below": "< "}.get(r["check"], "")
    return side + _fmt(r["paper"], unit) if not _missing(r["paper"]) else ""


DIFFERENCE = "difference (reproduced − paper)"


def table_rows(summary: pd.DataFrame, lm: Landmark) -> list[dict]:
    """The cells of a landmark's table, formatted, one dict per claim or ordering (shared by the
    markdown and the HTML report); `verdict_raw` is the summary's verdict and `outcome` what
    colours the row (HIDDEN, not columns)."""
    rows = []
    records = summary[summary["landmark"] == lm.id].to_dict("records")
    # a table with rows of several metrics (top-1 and top-5 error) names each row's; else the
    # line under the table does
    mixed = len({r["metric"] for r in records}) > 1
    for r in records:
        unit = "" if r["check"] in ("ordering", "ratio") else METRICS.get(r["metric"]).unit
        points = " pts" if unit == "%" else ""
        reproduced, ci = _reproduced(r, unit)
        diff, tol = r["difference"], r["tolerance"]
        rows.append({
            "claim": r["claim"],
            "metric": r["metric"] if mixed else "",
            "params": "" if _missing(r.get("parameters")) else _params(r["parameters"]),
            "paper": _paper(r, unit),
            "reproduced mean ± std (n)": reproduced,
            "95% interval": ci,
            DIFFERENCE: "" if _missing(diff) else (f"{diff:+.2f}{points}" if unit == "%" else f"{diff:+.3g}"),
            "tolerance": "" if _missing(tol) else f"± {tol:.2f}{points}" if unit == "%" else f"± {tol:.3g}",
            "seeds needed": "" if _missing(r["seeds_needed"]) else f"{int(r['seeds_needed']):,}",
            "p": _p(r["p_value"]),
            "verdict": _verdict_cell(r),
            "source": r["source"],
            "verdict_raw": r["verdict"],
            "outcome": r["outcome"] or "",
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
    optional = ("metric", "params", "seeds needed", "p")
    return [c for c in rows[0] if c not in HIDDEN and (c not in optional or any(r[c] for r in rows))]


def tolerance_rules(summary: pd.DataFrame, lm: Landmark) -> list[str]:
    """'claim: rule' for every claim whose tolerance a rule set; 'claim (metric): rule' for the
    value of another metric it publishes (`also`)."""
    out = []
    for r in summary[(summary["landmark"] == lm.id) & (summary["tolerance_rule"] != "")].to_dict("records"):
        own = r["check"] == "ratio" or r["metric"] == lm.metric_of(lm.claim(r["claim"]))
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
