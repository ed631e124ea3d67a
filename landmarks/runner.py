"""Run one landmark under one profile: every claim, every seed.

    landmarks train xor-backprop --profile quick

Writes `<out>/metrics.json` (one row per run, with provenance and the resolved recipes),
`<out>/history.csv` (one row per run and epoch) and `<out>/weights/<run>.pt` (final weights),
and records everything in MLflow.

Runs survive interruption: each run checkpoints under `checkpoints/<profile>/<landmark>/`, a
finished run leaves its result there, and running the same command again skips finished runs and
resumes the interrupted one, in the same MLflow run. The folder is removed once the landmark is
complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import pandas as pd
import torch

from landmarks.catalog import Claim, Landmark, resolve_recipe
from landmarks.errors import TrainingError
from landmarks.provenance import git_state, hardware, machine_label, versions
from landmarks.strict import to_plain
from landmarks.tasks import TASKS, RunContext, RunResult
from landmarks.tracking import Tracker, flatten
from landmarks.train.checkpoint import Checkpointer, Interrupted, StopFlag


@dataclass(frozen=True)
class CheckpointPolicy:
    dir: Path = Path("checkpoints")
    every_steps: int = 0  # 0: by time only
    every_seconds: float = 300.0
    # auto: resume a matching checkpoint, start over (setting the old one aside) when the recipe
    # changed; always: refuse to start over; never: ignore checkpoints
    resume: Literal["auto", "always", "never"] = "auto"


def write_atomic(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def run_key(claim: Claim, seed: int) -> str:
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', claim.name).strip('_')}-seed{seed}"


def data_hash_of(lm: Landmark, ctx: RunContext) -> str:
    """The content hash of the prepared data the landmark trains on ('' for generated data)."""
    if not lm.dataset:
        return ""
    from landmarks.tasks.classify import cached_splits

    return cached_splits(lm.dataset, ctx).content_hash


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
    checkpoints: CheckpointPolicy = CheckpointPolicy(),
    only_claims: tuple[str, ...] = (),
    only_seeds: tuple[int, ...] = (),
) -> dict:
    """Every claim x seed of the profile, or the subset named by `only_claims` / `only_seeds`
    (a subset is marked so in metrics.json)."""
    prof = lm.profile(profile)
    claims = lm.claims_for(profile)
    if only_claims:
        claims = tuple(lm.claim(n) for n in only_claims)
    if only_seeds:
        from dataclasses import replace

        prof = replace(prof, seeds=tuple(only_seeds))
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
    ckpt_dir = checkpoints.dir / profile / lm.id
    total = sum(len(c.seeds(prof.seeds)) for c in claims)
    label = " (reduced budget)" if prof.reduced_budget else ""
    log(f"[{lm.id}] profile {profile}{label}: {len(claims)} claims x {len(prof.seeds)} seeds ({total} runs) "
        f"on {machine_label(device)}")
    data_hash = data_hash_of(lm, ctx)
    exp_id = parent = None
    parent_file = ckpt_dir / "parent.json"
    if tracker:
        exp_id = tracker.experiment(lm.id)
        saved = json.loads(parent_file.read_text()) if parent_file.exists() else {}
        if saved.get("uri") == tracker.uri:  # an interrupted landmark: its parent run goes on
            parent = saved["mlflow_run_id"]
            tracker.resume(parent)
        else:
            parent = tracker.start(exp_id, f"{lm.id} [{profile}]", common_tags)
            write_atomic(parent_file, json.dumps({"mlflow_run_id": parent, "uri": tracker.uri}))
    rows, histories, recipes = [], [], {}
    status = "FAILED"
    t_start = time.perf_counter()
    try:
        with StopFlag() as stop:
            ctx.stop = stop
            for claim in claims:
                recipe = resolve_recipe(lm, claim, profile)
                recipes[claim.name] = to_plain(recipe)
                for seed in claim.seeds(prof.seeds):
                    row, history = _one_run(lm, claim, recipe, seed, profile, ctx, task, tracker, exp_id, parent,
                                            common_tags, data_hash, ckpt_dir, checkpoints, out_dir, log)
                    rows.append(row)
                    histories += [{"claim": claim.name, "seed": seed, **h} for h in history]
                    log(f"  [{len(rows)}/{total}] {claim.name}, seed {seed}: {row['metric']} = {row['value']:.4g} "
                        f"({row['seconds']:.1f} s{', resumed' if row.get('resumed') else ''})")
                    if row.get("info.at_chance"):
                        log(f"  warning: {claim.name}, seed {seed} did not learn: its test error "
                            f"{row['metric.top1_error']:.2f}% is at chance level. It still counts in the "
                            f"mean; a smaller lr or a warm-up usually avoids this.")
        status = "FINISHED"
    except Interrupted:
        status = "KILLED"
        raise
    finally:
        if tracker and parent:
            if status == "FINISHED":
                tracker.log_metrics(parent, _aggregate(rows))
            if status != "KILLED":  # a killed landmark's parent run resumes with it
                tracker.end(parent, status)
                parent_file.unlink(missing_ok=True)
            tracker.close()
    doc = {
        "landmark": lm.id,
        "profile": profile,
        "reduced_budget": prof.reduced_budget,
        "subset": bool(only_claims or only_seeds),
        "seconds": time.perf_counter() - t_start,
        "provenance": {**common_tags, "data_hashes": sorted({str(r.get("info.data_hash")) for r in rows})},
        "recipes": recipes,
        "mlflow_parent_run_id": parent,
        "runs": rows,
    }
    write_atomic(out_dir / "metrics.json", json.dumps(doc, indent=1, default=str) + "\n")
    write_atomic(out_dir / "history.csv", pd.DataFrame(histories).to_csv(index=False))
    shutil.rmtree(ckpt_dir, ignore_errors=True)  # everything is in out_dir now
    log(f"[{lm.id}] done in {doc['seconds']:.1f} s -> {out_dir}")
    return doc


def _one_run(lm, claim, recipe, seed, profile, ctx, task, tracker, exp_id, parent, common_tags, data_hash,
             ckpt_dir, policy, out_dir, log) -> tuple[dict, list[dict]]:
    key = run_key(claim, seed)
    identity = flatten({
        "landmark": lm.id, "claim": claim.name, "model": claim.model, "seed": seed, "profile": profile,
        "model_args": to_plain(claim.model_args), "data_args": to_plain(claim.data_args),
        "recipe": to_plain(recipe), "data_hash": data_hash, "git_commit": common_tags["git_commit"],
        "version.torch": common_tags["version.torch"], "device": common_tags["hardware.device"],
    })
    checkpoint = Checkpointer(ckpt_dir / f"{key}.pt", identity, policy.every_steps, policy.every_seconds)
    result_file = ckpt_dir / f"{key}.result.json"
    weights_file = ckpt_dir / f"{key}.weights.pt"
    if policy.resume != "never" and result_file.exists():
        done = json.loads(result_file.read_text())
        if done["identity"] == identity:  # finished before the interruption: keep its result
            _copy_weights(weights_file, out_dir, key)
            return {**done["row"], "resumed": True}, done["history"]
    payload = checkpoint.load(strict=policy.resume == "always") if policy.resume != "never" else None
    run_id = payload["extra"].get("mlflow_run_id") if payload else None
    if tracker:
        if run_id:
            tracker.resume(run_id)
        else:
            tags = {**common_tags, "claim": claim.name, "model": claim.model, "seed": seed, "run_key": key}
            run_id = tracker.start(exp_id, f"{claim.name} seed {seed}", tags, parent=parent)
            tracker.log_params(run_id, {"claim": claim.name, "model": claim.model, "seed": seed, "profile": profile,
                                        "recipe": to_plain(recipe), "model_args": to_plain(claim.model_args),
                                        "data_args": to_plain(claim.data_args)})
            tracker.set_tag(run_id, "data_hash", data_hash)
    checkpoint.extra = {"mlflow_run_id": run_id}
    logged: set[int] = set()

    def on_epoch(row: dict) -> None:
        if tracker and run_id:
            tracker.log_epoch(run_id, row)
        logged.add(row["epoch"])

    ctx.checkpoint, ctx.resume, ctx.on_epoch = checkpoint, payload, on_epoch
    if payload:
        log(f"  {claim.name}, seed {seed}: resuming from step {payload['state']['step']} ({checkpoint.path})")
    t0 = time.perf_counter()
    try:
        result: RunResult = task(lm, claim, recipe, seed, ctx)
    except TrainingError as exc:
        if tracker and run_id:
            tracker.set_tag(run_id, "failure", str(exc))
            if exc.step is not None:
                tracker.set_tag(run_id, "failed_at_step", exc.step)
            tracker.end(run_id, "FAILED")
        checkpoint.path.unlink(missing_ok=True)
        raise
    except Interrupted:
        if tracker and run_id:
            tracker.end(run_id, "KILLED")
        raise
    except BaseException:
        if tracker and run_id:
            tracker.end(run_id, "FAILED")
        raise
    finally:
        ctx.checkpoint = ctx.resume = ctx.on_epoch = None
    seconds = time.perf_counter() - t0  # of this process; a resumed run's earlier part is not counted
    metric = lm.metric_of(claim)
    row = {
        "landmark": lm.id, "profile": profile, "reduced_budget": lm.profile(profile).reduced_budget,
        "claim": claim.name, "model": claim.model, "seed": seed, "metric": metric,
        "value": result.metrics[metric],
        **{f"metric.{k}": v for k, v in result.metrics.items()},
        **{f"info.{k}": v for k, v in result.info.items()},
        "seconds": seconds, "device": str(ctx.device), "machine": machine_label(ctx.device),
        "git_commit": common_tags["git_commit"], "mlflow_run_id": run_id,
    }
    if tracker and run_id:
        tracker.log_history(run_id, [h for h in result.history if h["epoch"] not in logged])
        tracker.log_metrics(run_id, [(k, v, 0) for k, v in result.metrics.items()] + [("seconds", seconds, 0)])
        if result.info.get("at_chance"):
            tracker.set_tag(run_id, "at_chance", "true")
        tracker.end(run_id)
    if result.model is not None:
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp = weights_file.with_name(weights_file.name + ".tmp")
        torch.save(result.model.state_dict(), tmp)
        os.replace(tmp, weights_file)
        _copy_weights(weights_file, out_dir, key)
    write_atomic(result_file, json.dumps({"identity": identity, "row": row, "history": result.history}, default=str))
    checkpoint.path.unlink(missing_ok=True)
    return row, result.history


def _copy_weights(weights_file: Path, out_dir: Path, key: str) -> None:
    if weights_file.exists():
        (out_dir / "weights").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights_file, out_dir / "weights" / f"{key}.pt")


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
