"""`reports/index.html`: every landmark under every profile on one page, the page a reader opens
first.

    landmarks overview

For each landmark: its title linked to the paper, and per profile the verdicts of its claims
(linked to that profile's page), then a chart of each claim's 95% interval against the paper's
band (paper ± tolerance), one line per profile. It reads the `summary.csv` of every folder under
reports/ and writes static HTML with inline SVG: it opens offline, from a file.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from landmarks.catalog import Landmark
from landmarks.files import write_atomic
from landmarks.report.html import verdict_css

WIDTH, ROW, LEFT = 640, 16, 230  # the chart's width, a line's height, the room for claim names


def _summaries(reports: Path) -> dict[str, pd.DataFrame]:
    return {p.parent.name: pd.read_csv(p) for p in sorted(reports.glob("*/summary.csv"))}


def _numbers(r: pd.Series) -> dict[str, float]:
    """A summary row's mean, interval, paper value and tolerance as floats (NaN where empty)."""
    out = {}
    for k in ("mean", "ci95_low", "ci95_high", "paper", "tolerance"):
        v = pd.to_numeric(pd.Series([r.get(k)]), errors="coerce").iloc[0]
        out[k] = float(v) if pd.notna(v) else math.nan
    return out


def _chart(rows: list[tuple[str, str, dict[str, float]]]) -> str:
    """Inline SVG: per (claim, profile) the mean and interval as a dot on a line, the paper's band
    shaded behind it, all on one axis."""
    values = [v for _, _, r in rows for v in (r["ci95_low"], r["ci95_high"], r["mean"], r["paper"]) if math.isfinite(v)]
    values += [r["paper"] + s * r["tolerance"] for _, _, r in rows for s in (-1, 1)
               if math.isfinite(r["paper"]) and math.isfinite(r["tolerance"])]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad

    def x(v: float) -> float:
        return LEFT + (v - lo) / (hi - lo) * (WIDTH - LEFT - 10)

    parts = []
    for i, (claim, profile, r) in enumerate(rows):
        y = 10 + i * ROW
        name = claim if len(claim) <= 28 else claim[:27] + "…"
        label = html.escape(f"{name} [{profile}]")
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4}" text-anchor="end" font-size="10">{label}</text>')
        if math.isfinite(r["paper"]) and math.isfinite(r["tolerance"]):
            a, b = x(r["paper"] - r["tolerance"]), x(r["paper"] + r["tolerance"])
            parts.append(f'<rect x="{a:.1f}" y="{y - 6}" width="{b - a:.1f}" height="12" fill="#d9f2d9"/>')
        if math.isfinite(r["paper"]):
            parts.append(f'<line x1="{x(r["paper"]):.1f}" x2="{x(r["paper"]):.1f}" y1="{y - 6}" y2="{y + 6}" '
                         'stroke="#2a7a2a"/>')
        if math.isfinite(r["ci95_low"]) and math.isfinite(r["ci95_high"]):
            parts.append(f'<line x1="{x(r["ci95_low"]):.1f}" x2="{x(r["ci95_high"]):.1f}" y1="{y}" y2="{y}" '
                         'stroke="#333" stroke-width="2"/>')
        if math.isfinite(r["mean"]):
            parts.append(f'<circle cx="{x(r["mean"]):.1f}" cy="{y}" r="3" fill="#333"/>')
    height = 20 + len(rows) * ROW
    axis = (f'<text x="{LEFT}" y="{height - 2}" font-size="9">{lo:.3g}</text>'
            f'<text x="{WIDTH - 10}" y="{height - 2}" font-size="9" text-anchor="end">{hi:.3g}</text>')
    return f'<svg width="{WIDTH}" height="{height}" role="img">{"".join(parts)}{axis}</svg>'


def _verdicts(summary: pd.DataFrame, lm_id: str) -> str:
    rows = summary[summary["landmark"] == lm_id]
    cells = []
    for _, r in rows.iterrows():
        css = verdict_css(str(r.get("outcome", "") or ""), str(r.get("verdict", "") or ""))
        cells.append(f'<span class="{css}" title="{html.escape(str(r["claim"]))}">{html.escape(str(r["verdict"]))}</span>')
    return " ".join(cells)


def write_overview(reports: Path, catalog: Mapping[str, Landmark]) -> Path:
    summaries = _summaries(reports)
    profiles = list(summaries)
    body = []
    for lm_id, lm in catalog.items():
        shown = [p for p in profiles if (summaries[p]["landmark"] == lm_id).any()]
        if not shown:
            continue
        lines = "".join(f'<div><a href="{p}/index.html#{lm_id}">{p}</a>: {_verdicts(summaries[p], lm_id)}</div>'
                        for p in shown)
        claims = [(str(r["claim"]), p, _numbers(r)) for p in shown
                  for _, r in summaries[p][summaries[p]["landmark"] == lm_id].iterrows()]
        chart = _chart([c for c in claims if math.isfinite(c[2]["mean"]) and math.isfinite(c[2]["paper"])])
        body.append(f'<tr><td class="title"><a href="{html.escape(lm.url)}">{html.escape(lm.title)}</a></td>'
                    f'<td>{lines}{chart}</td></tr>')
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Landmarks: every profile</title>
<style>
  body {{ font: 15px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 72rem; padding: 0 1rem; }}
  table {{ width: 100%; border-collapse: collapse; }}
  td {{ border-top: 1px solid #ddd; padding: .35rem .5rem; vertical-align: top; overflow-wrap: break-word; }}
  td.title {{ width: 16rem; }}
  span {{ display: inline-block; padding: 0 .35rem; margin: .1rem; border-radius: 3px; font-size: .85rem; }}
  .v-reproduced {{ background: #d9f2d9; }} .v-better {{ background: #dbe9fb; }} .v-not {{ background: #f9d6d5; }}
  .v-inconclusive {{ background: #fdf0c9; }} .v-check-ok {{ background: #e3f1e3; }} .v-check-bad {{ background: #f9d6d5; }}
  .v-cited {{ font-style: italic; color: #555; }} svg {{ max-width: 100%; height: auto; }}
</style></head><body>
<h1>Landmarks: paper vs reproduced, every profile</h1>
<p>Per landmark, the paper (linked) and each profile's verdicts, coloured by result (green: inside the
paper's band; blue: beyond it on the better side; red: beyond it on the worse side; yellow: more seeds
needed). The chart puts each claim's 95% interval (line) and mean (dot) against the paper's value
(green tick) and band (shaded). Profiles: {", ".join(f'<a href="{p}/index.html">{p}</a>' for p in profiles)}.</p>
<table>{"".join(body)}</table>
</body></html>
"""
    out = reports / "index.html"
    write_atomic(out, page)
    return out
