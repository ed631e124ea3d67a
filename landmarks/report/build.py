"""Build reports/<profile>/ from the runs under models/<profile>/.

    landmarks report --profile quick

Writes results.csv (tidy: one row per run), summary.csv (one row per claim), tables/<landmark>.md,
figures/<landmark>.png and README.md, the page a reader opens first.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping

import pandas as pd

from landmarks.catalog import Landmark
from landmarks.errors import ConfigError
from landmarks.report.figures import learning_curves
from landmarks.report.html import write_html
from landmarks.report.tables import (landmark_table, lecture_table, load_results, run_budget, runs_at_chance,
                                     shown_columns, summarize, table_rows, tolerance_rules)
from landmarks.report.verdicts import CITED, EXPLAINED, is_check
from landmarks.files import write_atomic


def build_report(profile: str, models_dir: Path, out_dir: Path, catalog: Mapping[str, Landmark]) -> Path:
    results, docs = load_results(models_dir)
    if results.empty:
        raise ConfigError(
            f"{models_dir}: no runs found (no */metrics.json); train first: "
            f"`landmarks run --profile {profile}` or `dvc repro`"
        )
    summary = summarize(results, catalog)
    for folder in ("curves", "tables"):  # DVC outputs: present even when a profile has no curve
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "results.csv", results.to_csv(index=False))
    write_atomic(out_dir / "summary.csv", summary.to_csv(index=False))
    write_atomic(out_dir / "metrics.json", json.dumps(verdict_metrics(summary), indent=1) + "\n")
    sections, html_sections = [], []
    index_rows = []
    for doc in docs:
        lm = catalog.get(doc["landmark"])
        if lm is None:
            continue
        table = landmark_table(summary, lm)
        hist_path = models_dir / lm.id / "history.csv"
        history = pd.read_csv(hist_path) if hist_path.exists() and hist_path.stat().st_size > 1 else pd.DataFrame()
        threshold = lm.recipe.threshold or None
        figure = learning_curves(history, f"{lm.title} [{profile}]", out_dir / "figures" / f"{lm.id}.png",
                                 lm.metric, {c.name: c.paper for c in lm.claims}, threshold)
        if figure is None:  # a figure an earlier version drew for a metric no curve shows
            (out_dir / "figures" / f"{lm.id}.png").unlink(missing_ok=True)
        curves = mean_curves(history)
        if not curves.empty:
            write_atomic(out_dir / "curves" / f"{lm.id}.csv", curves.to_csv(index=False))
        budget = run_budget(lm, pd.DataFrame(doc["runs"]))
        label = f" ({budget}: not the paper's recipe)" if budget != "paper" else ""
        prov = doc["provenance"]
        body = [
            f"## {lm.title}{label}",
            "",
            f"{lm.citation.strip()}",
            "",
            table,
            "",
            f"Metric: `{lm.metric}`. Machine: {doc['runs'][0]['machine']}. "
            f"Runtime: {doc['seconds']:.1f} s. Commit: `{prov['git_commit'][:12]}`"
            f"{_dirty(prov)}. "
            f"torch {prov.get('version.torch')}.",
        ]
        if lecture := lecture_table(summary, lm):
            body += ["", "Top-1 and top-5 error side by side, as the lecture shows them:", "", lecture]
        notes = _notes(lm, profile, summary, results)
        for line in notes:
            body += ["", line]
        if figure:
            body += ["", f"![learning curves](figures/{figure.name})"]
        body.append("")
        text = f"# {lm.id} [{profile}]\n\n" + "\n".join(body) + "\n"
        write_atomic(out_dir / "tables" / f"{lm.id}.md", text)
        sections.append("\n".join(body))
        # cited rows are the paper's comparisons, not results of this project: not counted
        mine = summary[(summary["landmark"] == lm.id) & (summary["verdict"] != CITED)]
        counts = mine["verdict"].value_counts().to_dict()
        verdicts = {k: v for k, v in counts.items() if not is_check(k)}
        checks = {k.split(": ", 1)[1]: v for k, v in counts.items() if is_check(k)}
        html_sections.append({
            "id": lm.id, "title": lm.title, "label": label.strip(" ()"), "citation": " ".join(lm.citation.split()),
            "rows": (rows := table_rows(summary, lm)),
            "columns": shown_columns(rows),
            "notes": [n.replace("**", "").replace("`", "") for n in notes], "figure": f"figures/{figure.name}" if figure else "",
            "machine": doc["runs"][0]["machine"], "runtime": f"{doc['seconds']:.1f} s",
            "commit": prov["git_commit"][:12], "dirty": _dirty(prov), "torch": prov.get("version.torch"),
            "python": prov.get("version.python"), "data_hashes": ", ".join(h[:12] for h in prov.get("data_hashes", [])),
            "runs": len(doc["runs"]), "verdicts": ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())),
        })
        index_rows.append({
            "landmark": f"[{lm.id}](tables/{lm.id}.md)",
            "title": lm.title,
            "runs": len(doc["runs"]),
            "verdicts": ", ".join(f"{k}: {v}" for k, v in sorted(verdicts.items())),
            "checks": ", ".join(f"{k}: {v}" for k, v in sorted(checks.items())),
            "runtime (s)": f"{doc['seconds']:.1f}",
            "machine": doc["runs"][0]["machine"],
        })
    readme = [
        f"# Landmarks: paper vs reproduced, profile `{profile}`",
        "",
        "Numbers come only from the runs recorded in `results.csv` (one row per run). " + EXPLAINED,
        "",
        pd.DataFrame(index_rows).to_markdown(index=False),
        "",
    ]
    done = {doc["landmark"] for doc in docs}
    missing = sorted(i for i, lm in catalog.items() if profile in lm.profiles and i not in done)
    if missing:  # a profile run in parts (the paper profile) says what it does not hold yet
        readme += [f"Not run yet in this profile: {', '.join(missing)}.", ""]
    readme += [
        *sections,
        "",
    ]
    write_atomic(out_dir / "README.md", "\n".join(readme))
    write_html(out_dir / "index.html", profile, "Numbers come only from the runs recorded in results.csv (one row "
               "per run). " + EXPLAINED.replace("`", ""), html_sections, missing)
    return out_dir / "README.md"


def _notes(lm: Landmark, profile: str, summary: pd.DataFrame, results: pd.DataFrame) -> list[str]:
    """The paragraphs under a landmark's table: tolerance rules, the cited results' notes, the
    profile's hardware, expected time and note, runs that did not learn, the landmark's notes."""
    notes = []
    rules = tolerance_rules(summary, lm)
    if rules:
        notes.append("Tolerance: " + "; ".join(rules) + ".")
    cited = [f"{ref.name} ({' '.join(ref.note.split())})" for ref in lm.references if ref.note.strip()]
    if cited:
        notes.append("Not re-run, the paper's comparisons as it reports them: " + "; ".join(cited) + ".")
    prof = lm.profiles.get(profile)
    if prof is not None:
        needs = "; ".join(f"{what}: {' '.join(text.split())}" for what, text in
                          (("hardware", prof.hardware), ("expected time", prof.expected_time)) if text.strip())
        about = [part for part in (needs and needs + ".", " ".join(prof.note.split())) if part]
        if about:
            notes.append(f"Profile `{profile}`: " + " ".join(about))
    stuck = runs_at_chance(results, lm.id)
    if stuck:
        notes.append(f"**Did not learn** (test error at chance level; counted in the means above): {', '.join(stuck)}.")
    if lm.notes:
        notes.append(lm.notes.strip())
    return notes


def verdict_metrics(summary: pd.DataFrame) -> dict:
    """metrics.json for `dvc metrics show`: per landmark and claim (or ordering), the paper value,
    the runs' mean, std, n, 95% interval, tolerance, p-value and verdict."""
    out: dict = {}
    keys = ("paper", "mean", "std", "n", "ci95_low", "ci95_high", "tolerance", "p_value", "verdict")
    for r in summary[summary["verdict"] != CITED].to_dict("records"):  # cited rows: the paper's, not measured
        values = {k: r[k] for k in keys if not (r[k] is None or isinstance(r[k], float) and math.isnan(r[k]))}
        claims = out.setdefault(r["landmark"], {})
        # a claim's row comes first; the rows of other metrics it publishes (`also`) follow it
        name = r["claim"] if r["claim"] not in claims else f"{r['claim']} ({r['metric']})"
        claims[name] = {
            k: (round(float(v), 6) if k != "verdict" and not isinstance(v, str) else v) for k, v in values.items()}
    return out


def mean_curves(history: pd.DataFrame) -> pd.DataFrame:
    """One row per epoch, a column per claim and error (the mean over seeds): `dvc plots show`."""
    errors = [c for c in ("test_error", "train_error") if c in history]
    if history.empty or "epoch" not in history or not errors:
        return pd.DataFrame()
    mean = history.groupby(["claim", "epoch"])[errors].mean().unstack("claim")
    mean.columns = [f"{claim}: {err.replace('_', ' ')}" for err, claim in mean.columns]
    return mean.reset_index()


def _dirty(prov: dict) -> str:
    if prov.get("git_dirty") != "true":
        return ""
    changed = prov.get("git_changed")  # absent from runs recorded before it was kept
    return f" (with uncommitted changes to {changed})" if changed else " (with uncommitted changes)"

