"""A run of some claims or seeds (`--claims`, `--seeds`) adds to the landmark's results instead of
replacing them: the rows it did not run are kept from the metrics.json already there, where their
claim's recipe is the one this job resolved."""

from __future__ import annotations

import logging
from pathlib import Path

from landmarks.files import write_atomic
from landmarks.run_files import read_outputs
from landmarks.train.recipe import EXECUTION_ONLY

log = logging.getLogger(__name__)


def _key(row: dict) -> tuple[str, int]:
    return str(row["claim"]), int(row["seed"])


def _same(old: dict | None, new: dict | None) -> bool:
    """Two resolved recipes alike but for how they are executed."""
    def what(r: dict | None) -> dict | None:
        return None if r is None else {k: v for k, v in r.items() if k not in EXECUTION_ONLY}
    return what(old) == what(new)


def merge_with_previous(doc: dict, histories: list[dict], out_dir: Path, wanted: list[tuple[str, int]],
                        recipes: dict[str, dict]) -> tuple[dict, list[dict]]:
    """(doc, histories) with the earlier runs of `out_dir/metrics.json` that this job did not run
    added, in the order of `wanted` (every (claim, seed) of the profile, in catalog order);
    `recipes`: every claim's recipe as resolved now. A row whose claim has another recipe now is
    not mixed in: the earlier file is kept beside as metrics.previous.json and the log says so."""
    path = out_dir / "metrics.json"
    if not path.exists():
        return doc, histories
    try:
        old = read_outputs(out_dir)
    except (OSError, ValueError):
        return doc, histories  # unreadable: replaced, as any other output would be
    if old.get("profile") != doc["profile"]:
        return doc, histories
    ran = {_key(r) for r in doc["runs"]}
    order = {k: i for i, k in enumerate(wanted)}
    kept, stale = [], []
    for row in old.get("runs", []):
        key = _key(row)
        if key in ran or key not in order:
            continue
        (kept if _same(old.get("recipes", {}).get(key[0]), recipes.get(key[0])) else stale).append(row)
    if stale:
        write_atomic(out_dir / "metrics.previous.json", path.read_text(encoding="utf-8"))
        log.warning("  %d earlier runs of another recipe (%s) are not mixed in: they stay in %s",
                    len(stale), ", ".join(sorted({f"{c}" for c, _ in map(_key, stale)})),
                    out_dir / "metrics.previous.json")
    if not kept:
        return doc, histories
    rows = sorted([*doc["runs"], *kept], key=lambda r: order.get(_key(r), len(order)))
    kept_keys = {_key(r) for r in kept}
    old_hist = _old_history(out_dir / "history.csv", kept_keys)
    merged = {**doc, "runs": rows, "recipes": {c: recipes[c] for c in dict.fromkeys(c for c, _ in map(_key, rows))},
              "subset": not set(order) <= {_key(r) for r in rows}}
    log.info("  %d earlier runs kept beside the %d of this job in %s", len(kept), len(doc["runs"]), path)
    return merged, [*old_hist, *histories]


def _old_history(path: Path, keys: set[tuple[str, int]]) -> list[dict]:
    if not path.exists():
        return []
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError):
        return []
    if frame.empty or not {"claim", "seed"} <= set(frame.columns):
        return []
    mask = [(str(c), int(s)) in keys for c, s in zip(frame["claim"], frame["seed"])]
    return frame[mask].to_dict("records")
