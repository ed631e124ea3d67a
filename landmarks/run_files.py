"""A landmark's output folder: what its runs found, apart from when and where they happened.

    models/<profile>/<landmark>/metrics.json   the runs' numbers, recipes, versions, data hashes
    models/<profile>/<landmark>/history.csv    one row per run and epoch
    models/<profile>/<landmark>/run-info.json  times, MLflow run ids, the commit each run began at

The first two are the same bytes whenever the same code trains on the same machine, so DVC's hash
of the folder (and `dvc.lock`, and the report built from it) changes only when a number does.
What differs at every run goes to run-info.json, which `.dvcignore` keeps out of that hash.
Readers get the three joined again (`read_outputs`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from landmarks.files import write_atomic

RUN_INFO = "run-info.json"
# a run's fields that change each time it is run: time, MLflow's ids, HEAD when it ran (the code's
# own commit, `code_commit`, stays with the numbers), whether it was taken from a finished record
VOLATILE = ("seconds", "info.train_seconds", "mlflow_run_id", "git_commit", "git_commit_started", "resumed")
VOLATILE_DOC = ("seconds", "mlflow_parent_run_id")
VOLATILE_PROVENANCE = ("git_commit", "mlflow.source.git.commit")


def _key(row: dict) -> tuple[str, int]:
    return str(row["claim"]), int(row["seed"])


def split(doc: dict, histories: list[dict]) -> tuple[dict, list[dict], dict]:
    """(the document without volatile fields, the histories without epoch times, run-info)."""
    prov = doc.get("provenance", {})
    info = {k: doc[k] for k in VOLATILE_DOC if k in doc}
    info["provenance"] = {k: prov[k] for k in VOLATILE_PROVENANCE if k in prov}
    epochs: dict[tuple[str, int], list[float]] = {}
    for h in histories:
        if "seconds" in h:
            epochs.setdefault(_key(h), []).append(h["seconds"])
    info["runs"] = [{"claim": r["claim"], "seed": r["seed"], **{k: r[k] for k in VOLATILE if k in r},
                     **({"epoch_seconds": epochs[_key(r)]} if _key(r) in epochs else {})} for r in doc["runs"]]
    stable = {k: v for k, v in doc.items() if k not in VOLATILE_DOC}
    stable["provenance"] = {k: v for k, v in prov.items() if k not in VOLATILE_PROVENANCE}
    stable["runs"] = [{k: v for k, v in r.items() if k not in VOLATILE} for r in doc["runs"]]
    return stable, [{k: v for k, v in h.items() if k != "seconds"} for h in histories], info


def join(doc: dict, info: dict) -> dict:
    """`doc` with run-info's fields back in (each run's by claim and seed)."""
    runs = {_key(r): r for r in info.get("runs", [])}
    out = {**doc, **{k: v for k, v in info.items() if k in VOLATILE_DOC}}
    out["provenance"] = {**doc.get("provenance", {}), **info.get("provenance", {})}
    out["runs"] = [{**r, **{k: v for k, v in runs.get(_key(r), {}).items() if k in VOLATILE}} for r in doc["runs"]]
    return out


def write_outputs(out_dir: Path, doc: dict, histories: list[dict]) -> None:
    """metrics.json and history.csv, then run-info.json (the one a reader may find missing)."""
    stable, history, info = split(doc, histories)
    write_atomic(out_dir / "metrics.json", json.dumps(stable, indent=1, default=str) + "\n")
    write_atomic(out_dir / "history.csv", pd.DataFrame(history).to_csv(index=False))
    write_atomic(out_dir / RUN_INFO, json.dumps(info, indent=1, default=str) + "\n")


def read_outputs(out_dir: Path) -> dict:
    """The folder's metrics.json joined with its run-info.json where there is one (a folder DVC
    restored from its cache has none: its runs then have no times)."""
    doc = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))
    try:
        info = json.loads((out_dir / RUN_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return doc
    return join(doc, info)
