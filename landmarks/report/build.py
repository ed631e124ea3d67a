"""Build reports/<profile>/ from the runs under models/<profile>/.

    landmarks report --profile quick

Writes results.csv (tidy: one row per run), summary.csv (one row per claim), tables/<landmark>.md,
figures/<landmark>.png and README.md, the page a reader opens first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import pandas as pd

from landmarks.catalog import PAPER, Landmark
from landmarks.errors import ConfigError
from landmarks.files import write_atomic
from landmarks.report.crossings import reread_crossings
from landmarks.report.figures import learning_curves
from landmarks.report.score_curves import score_curves
from landmarks.report.from_results import docs_from_results
from landmarks.report.in_progress import kept_docs, planned
from landmarks.report.metrics_files import write_metrics
from landmarks.report.html import write_html
from landmarks.report.run_info import RUN_INFO_NOTE, write_results
from landmarks.report.notes import landmark_notes
from landmarks.report.summary import load_results, run_fidelity, summarize
from landmarks.report.tables import landmark_table, lecture_table, shown_columns, table_rows
from landmarks.judging.verdicts import CITED, EXPLAINED, is_check


def build_report(profile: str, models_dir: Path, out_dir: Path, catalog: Mapping[str, Landmark],
                 from_results: Path | None = None, kept_dir: Path | None = None, data_dir: Path = Path("data")
                 ) -> Path:
    """The report of `models_dir`'s runs, or of a committed results.csv (`from_results`: tables
    and verdicts under the current rules; the figures already there are kept). `kept_dir`: where
    a long profile's finished runs leave records (runs/): a landmark still in progress is shown
    with the runs it has finished."""
    results, docs, trained, histories = _gather(profile, models_dir, catalog, from_results, kept_dir)
    fresh = set(trained) | {d["landmark"] for d in docs if d.get("in_progress")}  # figures drawn from curves
    results, reread = reread_crossings(results, docs, histories)
    summary = summarize(results, catalog)
    for folder in ("curves", "tables"):  # DVC outputs: present even when a profile has no curve
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    write_results(results, out_dir)
    write_atomic(out_dir / "summary.csv", summary.to_csv(index=False))
    write_metrics(summary, out_dir)
    sections, html_sections, index_rows = [], [], []
    for doc in docs:
        lm = catalog.get(doc["landmark"])
        if lm is None:
            continue
        figure = _figure(lm, profile, histories[lm.id], out_dir) if lm.id in fresh else _kept_figure(lm, out_dir)
        fidelity = run_fidelity(lm, pd.DataFrame(doc["runs"]))
        label = _label(fidelity)
        if doc.get("in_progress"):  # a long profile's landmark with some runs finished
            label += f" ({doc['in_progress']})"
        notes = landmark_notes(lm, profile, summary, results, reread.get(lm.id, 0))
        body = _body(lm, doc, summary, label, notes, figure)
        write_atomic(out_dir / "tables" / f"{lm.id}.md", f"# {lm.id} [{profile}]\n\n" + "\n".join(body) + "\n")
        sections.append("\n".join(body))
        # cited rows are the paper's comparisons, not results of this project: not counted
        mine = summary[(summary["landmark"] == lm.id) & (summary["verdict"] != CITED)]
        counts = mine["verdict"].value_counts().to_dict()
        html_sections.append(_html_section(lm, doc, summary, label, notes, figure, _counted(counts, fidelity)))
        index_rows.append(_index_row(lm, doc, counts, fidelity))
    done = {doc["landmark"] for doc in docs}
    missing = sorted(i for i, lm in catalog.items() if profile in lm.profiles and i not in done)
    times = planned(catalog, profile, missing, data_dir) if missing and kept_dir else {}
    missing = [_not_run(catalog[i].profiles[profile].hardware, times.get(i), i) for i in missing]
    readme = [
        f"# Landmarks: paper vs reproduced, profile `{profile}`",
        "",
        "Numbers come only from the runs recorded in `results.csv` (one row per run). " + EXPLAINED,
        "", RUN_INFO_NOTE, "",
        pd.DataFrame(index_rows).to_markdown(index=False),
        "",
    ]
    if from_results is not None:
        again = [i for i in trained if i in {d["landmark"] for d in docs}]
        readme += [f"Rebuilt from `{from_results}` under the current verdict rules, without training again"
                   + (f" (except the runs of {', '.join(again)} trained again since, read from {models_dir})" if again else "")
                   + "; the learning curves and figures of the rows taken from the file are those drawn when "
                   "their runs were made.", ""]
    if missing:  # a profile run in parts (the paper profile) says what it does not hold yet
        readme += ["Not run yet in this profile:", "", *(f"- {m}" for m in missing), ""]
    write_atomic(out_dir / "README.md", "\n".join([*readme, *sections, ""]))
    write_html(out_dir / "index.html", profile, "Numbers come only from the runs recorded in results.csv (one row "
               "per run). " + EXPLAINED.replace("`", ""), html_sections, missing)
    return out_dir / "README.md"


def _not_run(hardware: str, planned_time: str | None, lm_id: str) -> str:
    """A landmark the profile has not run yet, with why (what it needs, where its profile says)
    and how long `landmarks plan` gives it on this machine."""
    why = [f"needs {hardware}"] if hardware else []
    why += [f"planned on this machine: {planned_time}"] if planned_time else []
    return f"{lm_id}: {'; '.join(why)}" if why else lm_id


def _gather(profile: str, models_dir: Path, catalog: Mapping[str, Landmark], from_results: Path | None,
            kept_dir: Path | None) -> tuple[pd.DataFrame, list[dict], list[str], dict[str, pd.DataFrame]]:
    """(every run, a document per landmark, the landmarks complete under models/, their curves):
    models/ first, then the rows of `from_results` for the other landmarks, then the kept records
    of landmarks still in progress."""
    results, docs = load_results(models_dir) if models_dir.is_dir() else (pd.DataFrame(), [])
    trained = sorted(doc["landmark"] for doc in docs)
    # a landmark still in progress: its kept records are newer than any file's rows of it
    progress = kept_docs(kept_dir, profile, catalog, set(trained)) if kept_dir else []
    partial = {d["landmark"]: d.pop("history") for d in progress}
    docs = _merged(docs, progress)
    if from_results is not None:  # runs trained again since are taken from models/, the rest from the file
        docs = _merged(docs, docs_from_results(from_results, profile)[1])
    if from_results is not None or progress:
        results = pd.DataFrame([run for doc in docs for run in doc["runs"]])
    if results.empty:
        raise ConfigError(
            f"{models_dir}: no runs found (no */metrics.json); train first: "
            f"`landmarks run --profile {profile}` or `dvc repro`"
        )
    histories = {d["landmark"]: _history(models_dir / d["landmark"] / "history.csv") if d["landmark"] in trained
                 else partial.get(d["landmark"], pd.DataFrame()) for d in docs}
    return results, docs, trained, histories


def _merged(docs: list[dict], older: list[dict]) -> list[dict]:
    """`docs` with `older` documents' runs added where `docs` has no run of that (claim, seed), and
    the landmarks only `older` has; in landmark order."""
    by_id = {d["landmark"]: d for d in docs}
    for d in older:
        if d["landmark"] not in by_id:
            by_id[d["landmark"]] = d
            continue
        mine = by_id[d["landmark"]]  # a landmark partly run again: its other runs stay
        ran = {(r["claim"], int(r["seed"])) for r in mine["runs"]}
        mine["runs"] = mine["runs"] + [r for r in d["runs"] if (r["claim"], int(r["seed"])) not in ran]
    return sorted(by_id.values(), key=lambda d: d["landmark"])


def _kept_figure(lm: Landmark, out_dir: Path) -> Path | None:
    path = out_dir / "figures" / f"{lm.id}.png"
    return path if path.exists() else None


def _history(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.exists() and path.stat().st_size > 1 else pd.DataFrame()


def _label(fidelity: str) -> str:
    """What a landmark's heading says of its recipe: nothing at the paper's."""
    if fidelity == PAPER:
        return ""
    return f" ({fidelity})" if fidelity.startswith(PAPER) else f" ({fidelity}: not the paper's recipe)"


def _figure(lm: Landmark, profile: str, history: pd.DataFrame, out_dir: Path) -> Path | None:
    """The landmark's learning curves (figures/) and their means over seeds (curves/)."""
    title, path = f"{lm.title} [{profile}]", out_dir / "figures" / f"{lm.id}.png"
    if lm.metric == "score":  # a game's evaluation score against frames, the paper's lines beside
        ran = set(history["claim"]) if "claim" in history else set()
        figure = score_curves(history, title, path, {c.name: c.paper for c in lm.claims},
                              {r.name: r.values[lm.metric] for r in lm.references
                               if lm.metric in r.values and r.shown_with(ran)})
    else:
        # a recipe counted in steps (He et al.'s 64k iterations) is drawn against them
        figure = learning_curves(history, title, path, lm.metric, {c.name: c.paper for c in lm.claims},
                                 lm.recipe.threshold or None, "step" if lm.recipe.max_steps else "epoch")
    if figure is None:  # a figure an earlier version drew for a metric no curve shows
        (out_dir / "figures" / f"{lm.id}.png").unlink(missing_ok=True)
    curves = mean_curves(history)
    if not curves.empty:
        write_atomic(out_dir / "curves" / f"{lm.id}.csv", curves.to_csv(index=False))
    return figure


def _body(lm: Landmark, doc: dict, summary: pd.DataFrame, label: str, notes: list[str], figure: Path | None
          ) -> list[str]:
    """A landmark's section of the markdown: heading, citation, table, provenance, notes, figure."""
    prov = doc["provenance"]
    body = [
        f"## {lm.title}{label}", "", f"{lm.citation.strip()}", "", landmark_table(summary, lm), "",
        f"Metric: `{lm.metric}`. Machine: {doc['runs'][0]['machine']}. "
        f"Code: commit `{_commit(prov)}`{_dirty(prov)}."
        + (f" torch {prov['version.torch']}." if prov.get("version.torch") else ""),
    ]
    if lecture := lecture_table(summary, lm):
        body += ["", "Top-1 and top-5 error side by side, as the lecture shows them:", "", lecture]
    for line in notes:
        body += ["", line]
    if figure:
        body += ["", f"![learning curves](figures/{figure.name})"]
    return body + [""]


def _html_section(lm: Landmark, doc: dict, summary: pd.DataFrame, label: str, notes: list[str],
                  figure: Path | None, verdicts: str) -> dict:
    prov = doc["provenance"]
    rows = table_rows(summary, lm)
    return {
        "id": lm.id, "title": lm.title, "label": label.strip(" ()"), "citation": " ".join(lm.citation.split()),
        "rows": rows, "columns": shown_columns(rows),
        "notes": [n.replace("**", "").replace("`", "") for n in notes],
        "figure": f"figures/{figure.name}" if figure else "",
        "machine": doc["runs"][0]["machine"], "commit": _commit(prov), "dirty": _dirty(prov), "torch": prov.get("version.torch"),
        "python": prov.get("version.python"), "data_hashes": ", ".join(h[:12] for h in prov.get("data_hashes", [])),
        "runs": len(doc["runs"]), "verdicts": verdicts,
    }


def _counted(counts: dict, fidelity: str) -> str:
    """'verdict: count, ...'; a recipe off the paper's is named once in front of its results
    ('modified recipe — below the band: 5, inside the band: 2') instead of in every verdict."""
    prefix = f"{fidelity}; "
    named = {k.removeprefix(prefix): v for k, v in counts.items()}
    listed = ", ".join(f"{k}: {v}" for k, v in sorted(named.items()))
    return f"{fidelity} — {listed}" if named != counts else listed


def _index_row(lm: Landmark, doc: dict, counts: dict, fidelity: str) -> dict:
    verdicts = {k: v for k, v in counts.items() if not is_check(k)}
    checks = {k.split(": ", 1)[1]: v for k, v in counts.items() if is_check(k)}
    return {
        "landmark": f"[{lm.id}](tables/{lm.id}.md)",
        "title": lm.title,
        "runs": len(doc["runs"]),
        "verdicts": _counted(verdicts, fidelity),
        "checks": ", ".join(f"{k}: {v}" for k, v in sorted(checks.items())),
        "machine": doc["runs"][0]["machine"],
    }


def mean_curves(history: pd.DataFrame) -> pd.DataFrame:
    """One row per epoch, a column per claim and error (the mean over seeds): `dvc plots show`."""
    errors = [c for c in ("test_error", "train_error", "eval_score") if c in history]
    if history.empty or "epoch" not in history or not errors:
        return pd.DataFrame()
    mean = history.groupby(["claim", "epoch"])[errors].mean().unstack("claim")
    mean.columns = [f"{claim}: {err.replace('_', ' ')}" for err, claim in mean.columns]
    return mean.reset_index()


def _commit(prov: dict) -> str:
    """The commit of the code the runs ran (runs recorded before `code_commit` was kept: HEAD)."""
    return str(prov.get("code_commit") or prov.get("git_commit", ""))[:12]


def _dirty(prov: dict) -> str:
    if prov.get("git_dirty") != "true":
        return ""
    changed = prov.get("git_changed")  # absent from runs recorded before it was kept
    return f" (with uncommitted changes to {changed})" if changed else " (with uncommitted changes)"

