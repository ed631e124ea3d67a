"""What a report says of landmarks that are not complete yet: the finished runs of a landmark in
progress, from the records a long profile keeps (`runs/<profile>/<landmark>/*.json`, see
docs/resume.md), and the time `landmarks plan` gives the rest on this machine, where its cache
has the figures (a report never times anything itself)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Mapping

import pandas as pd

from landmarks.catalog import Landmark


def kept_docs(kept_dir: Path, profile: str, catalog: Mapping[str, Landmark], done: set[str]) -> list[dict]:
    """One metrics.json-like document per landmark with kept records and no metrics.json yet."""
    docs = []
    for folder in sorted((kept_dir / profile).glob("*")) if (kept_dir / profile).is_dir() else []:
        lm = catalog.get(folder.name)
        if lm is None or folder.name in done or profile not in lm.profiles:
            continue
        records = []
        for path in sorted(folder.glob("*.json")):
            try:
                records.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                continue  # a record being written, or damaged: `landmarks train` says which
        if not records:
            continue
        rows = [r["row"] for r in records]
        history = [{"claim": r["row"]["claim"], "seed": r["row"]["seed"], **h} for r in records for h in r["history"]]
        wanted = {(c.name, s) for c in lm.claims_for(profile) for s in c.seeds(lm.profile(profile).seeds)}
        # a record of a seed or claim the profile does not plan (a `--seeds` run beyond it) is shown, not counted
        done = {(r["claim"], int(r["seed"])) for r in rows} & wanted
        docs.append({
            "landmark": lm.id, "profile": profile,
            "provenance": {"code_commit": str(rows[-1].get("code_commit") or rows[-1].get("git_commit", "")),
                           # the torch a run trained with is part of its identity, kept in its record
                           "version.torch": str(records[-1].get("identity", {}).get("version.torch", "")),
                           "data_hashes": sorted({str(r.get("info.data_hash")) for r in rows})},
            "recipes": {}, "runs": rows,
            "in_progress": f"in progress: {len(done)} of {len(wanted)} runs finished{_by_claim(lm, profile, done)}"
            if len(done) < len(wanted) else f"all {len(wanted)} runs, from their kept records",
            "history": pd.DataFrame(history),
        })
    return docs


def _by_claim(lm: Landmark, profile: str, done: set[tuple[str, int]]) -> str:
    """"; ResNet-20: 1 of 5 seeds; ResNet-32, ResNet-56: none yet" where the profile has several
    claims (a landmark run a claim at a time, as a CPU runs the paper profile's smallest net)."""
    claims = lm.claims_for(profile)
    if len(claims) < 2:
        return ""
    count = Counter(name for name, _ in done)
    parts = [f"{c.name}: {count[c.name]} of {len(c.seeds(lm.profile(profile).seeds))} seeds"
             for c in claims if count[c.name]]
    idle = [c.name for c in claims if not count[c.name]]
    return "".join(f"; {p}" for p in parts) + (f"; {', '.join(idle)}: none yet" if idle else "")


def planned(catalog: Mapping[str, Landmark], profile: str, ids: list[str], data_dir: Path) -> dict[str, str]:
    """{landmark: its time on this machine} for those whose every claim the plan cache has."""
    try:
        from landmarks.plan.estimate import claim_plan, human
        from landmarks.plan.timing import TimingCache, machine_key, step_key
        from landmarks.train.seeding import resolve_device
    except ImportError:
        return {}
    device = resolve_device("auto")
    cache, here = TimingCache(), machine_key(device)
    # this process's thread count first, then the same device and torch timed with other threads
    same = here.split(",")[0] if device.type == "cpu" else here
    machines = [here] + [m for m in cache.data if m != here and m.startswith(same) and m.endswith(here.split("|")[-1])]

    def cached(claim, recipe, shape, num_classes, task: str = "classify"):
        key = step_key(claim, recipe, shape, task)
        for m in machines:
            found = cache.get(m, key)
            if found is not None:
                return found
        raise LookupError(claim.model)

    out = {}
    for lm_id in ids:
        lm = catalog[lm_id]
        try:
            plans = [claim_plan(lm, c, profile, data_dir, cached, pd.DataFrame()) for c in lm.claims_for(profile)]
        except LookupError:
            continue
        if all(p.total is not None for p in plans):
            out[lm_id] = human(sum(p.total for p in plans))
    return out
