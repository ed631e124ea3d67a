"""Run one landmark under one profile: every claim, every seed.

    landmarks train xor-backprop --profile quick

Writes `<out>/metrics.json` (one row per run, with provenance and the resolved recipes) and
`<out>/history.csv` (one row per run and epoch), and records everything in MLflow.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

from landmarks.catalog import Landmark, resolve_recipe
from landmarks.provenance import git_state, hardware, machine_label, versions
from landmarks.strict import to_plain
from landmarks.tasks import TASKS, RunContext
from landmarks.tracking import Tracker


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def train_landmark(
    lm: Landmark,
    profile: str,
    out_dir: Path,
    device: torch.device,
    tracker: Tracker | None = None,
    data_dir: Path = Path("data"),
    mirror: str = "",
    deterministic: bool = False,
    verbose: bool = False,
    log: Callable[[str], None] = print,
) -> dict:
    prof = lm.profile(profile)
    claims = lm.claims_for(profile)
    ctx = RunContext(device=device, data_dir=data_dir, mirror=mirror, verbose=verbose)
    task = TASKS.get(lm.task)
    common_tags = {
        "landmark": lm.id,
        "profile": profile,
        "reduced_budget": str(prof.reduced_budget).lower(),
        "deterministic": str(deterministic).lower(),
        **git_state(),
        **versions(),
        **hardware(device),
    }
    exp_id = parent = None
    if tracker:
        exp_id = tracker.experiment(lm.id)
        parent = tracker.start(exp_id, f"{lm.id} [{profile}]", common_tags)
    total = len(claims) * len(prof.seeds)
    label = " (reduced budget)" if prof.reduced_budget else ""
    log(f"[{lm.id}] profile {profile}{label}: {len(claims)} claims x {len(prof.seeds)} seeds on {machine_label(device)}")
    rows, histories, recipes = [], [], {}
    status = "FAILED"
    t_start = time.perf_counter()
    try:
        for claim in claims:
            recipe = resolve_recipe(lm, claim, profile)
            recipes[claim.name] = to_plain(recipe)
            metric = lm.metric_of(claim)
            for seed in prof.seeds:
                run_id = None
                if tracker:
                    tags = {**common_tags, "claim": claim.name, "model": claim.model, "seed": seed}
                    run_id = tracker.start(exp_id, f"{claim.name} seed {seed}", tags, parent=parent)
                    tracker.log_params(
                        run_id,
                        {"claim": claim.name, "model": claim.model, "seed": seed, "profile": profile,
                         "recipe": to_plain(recipe), "model_args": to_plain(claim.model_args),
                         "data_args": to_plain(claim.data_args)},
                    )
                t0 = time.perf_counter()
                try:
                    result = task(lm, claim, recipe, seed, ctx)
                except BaseException as exc:
                    if tracker and run_id:
                        tracker.end(run_id, "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
                    raise
                seconds = time.perf_counter() - t0
                row = {
                    "landmark": lm.id,
                    "profile": profile,
                    "reduced_budget": prof.reduced_budget,
                    "claim": claim.name,
                    "model": claim.model,
                    "seed": seed,
                    "metric": metric,
                    "value": result.metrics[metric],
                    **{f"metric.{k}": v for k, v in result.metrics.items()},
                    **{f"info.{k}": v for k, v in result.info.items()},
                    "seconds": seconds,
                    "device": str(device),
                    "machine": machine_label(device),
                    "git_commit": common_tags["git_commit"],
                    "mlflow_run_id": run_id,
                }
                rows.append(row)
                histories += [{"claim": claim.name, "seed": seed, **h} for h in result.history]
                if tracker and run_id:
                    tracker.log_history(run_id, result.history)
                    tracker.log_metrics(run_id, [(k, v, 0) for k, v in result.metrics.items()]
                                        + [("seconds", seconds, 0)])
                    tracker.client.set_tag(run_id, "data_hash", result.info.get("data_hash", ""))
                    tracker.end(run_id)
                log(f"  [{len(rows)}/{total}] {claim.name}, seed {seed}: {metric} = {row['value']:.4g} ({seconds:.1f} s)")
        status = "FINISHED"
    finally:
        if tracker and parent:
            if rows:
                tracker.log_metrics(parent, _aggregate(rows))
            tracker.end(parent, status)
    doc = {
        "landmark": lm.id,
        "profile": profile,
        "reduced_budget": prof.reduced_budget,
        "seconds": time.perf_counter() - t_start,
        "provenance": {**common_tags, "data_hashes": sorted({str(r.get("info.data_hash")) for r in rows})},
        "recipes": recipes,
        "mlflow_parent_run_id": parent,
        "runs": rows,
    }
    write_atomic(out_dir / "metrics.json", json.dumps(doc, indent=1, default=str) + "\n")
    write_atomic(out_dir / "history.csv", pd.DataFrame(histories).to_csv(index=False))
    log(f"[{lm.id}] done in {doc['seconds']:.1f} s -> {out_dir}")
    return doc


def _aggregate(rows: list[dict]) -> list[tuple[str, float, int]]:
    by_claim: dict[str, list[float]] = {}
    for r in rows:
        by_claim.setdefault(r["claim"], []).append(float(r["value"]))
    out = []
    for claim, values in by_claim.items():
        out.append((f"{claim}.mean", statistics.fmean(values), 0))
        out.append((f"{claim}.std", statistics.stdev(values) if len(values) > 1 else 0.0, 0))
        out.append((f"{claim}.n", float(len(values)), 0))
    return out
