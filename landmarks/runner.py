"""Run one landmark under one profile: every claim, every seed.

    landmarks train xor-backprop --profile quick

Writes `<out>/metrics.json` (one row per run, with provenance and the resolved recipes),
`<out>/history.csv` (one row per run and epoch) and `<out>/weights/<run>.pt` (final weights),
and records everything in MLflow (`landmarks.tracking.runs`).

Runs survive interruption: each run checkpoints under `checkpoints/<profile>/<landmark>/`, a
finished run leaves its result there (`FinishedRuns`), and running the same command again skips
finished runs and resumes the interrupted one, in the same MLflow run. The folder is removed
once the landmark is complete.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from landmarks.catalog import Landmark, resolve_recipe
from landmarks.config import CheckpointPolicy
from landmarks.errors import StorageError, TrainingError
from landmarks.files import ensure_writable, write_atomic
from landmarks.lock import exclusive
from landmarks.progress import RunProgress, say_done
from landmarks.report.tables import landmark_table, summarize
from landmarks.provenance import git_state, hardware, machine_label, versions
from landmarks.tasks import TASKS, RunControl, RunResult, RunSpec, StageContext, Task
from landmarks.tracking import LandmarkRuns, Tracker, flatten
from landmarks.train.checkpoint import Checkpointer, FinishedRuns
from landmarks.train.distributed import SINGLE, World
from landmarks.train.signals import Interrupted, StopFlag

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainJob:
    """What `landmarks train` asks for: one landmark under one profile, and where things go."""

    landmark: Landmark
    profile: str
    out_dir: Path
    device: torch.device = torch.device("cpu")
    data_dir: Path = Path("data")
    mirror: str = ""
    deterministic: bool = False
    checkpoints: CheckpointPolicy = field(default_factory=CheckpointPolicy)
    only_claims: tuple[str, ...] = ()  # a subset (marked so in metrics.json)
    only_seeds: tuple[int, ...] = ()
    # this process's place under torchrun; all ranks train every run together (recipe
    # parallel: data), rank 0 alone writes
    world: World = SINGLE


@dataclass
class _Stage:
    """What the runs of a job share while it trains."""

    job: TrainJob
    task: Task
    ctx: StageContext
    mlflow: LandmarkRuns
    tags: dict
    data_hash: str
    finished: FinishedRuns
    stop: StopFlag | None = None


def train_landmark(job: TrainJob, tracker: Tracker | None = None) -> dict:
    """Every claim x seed of the job; returns (and writes) the metrics.json document. One process
    at a time per (profile, landmark); the folders it writes are checked before anything trains."""
    state_dir = Path(job.checkpoints.dir) / job.profile / job.landmark.id
    if not job.world.writer:  # another rank of this job writes, and holds the lock
        return _train_landmark(job, None)
    for folder, option in ((job.out_dir, "--models"), (state_dir, "train.checkpoint.dir in params.yaml")):
        ensure_writable(folder, option)
    with exclusive(state_dir / "lock", f"{job.landmark.id} (profile {job.profile})"):
        return _train_landmark(job, tracker)


def _train_landmark(job: TrainJob, tracker: Tracker | None) -> dict:
    lm, profile = job.landmark, job.profile
    prof = lm.profile(profile)
    claims = tuple(lm.claim(n) for n in job.only_claims) if job.only_claims else lm.claims_for(profile)
    if job.only_seeds:
        prof = prof.model_copy(update={"seeds": tuple(job.only_seeds)})
    state_dir = Path(job.checkpoints.dir) / profile / lm.id
    ctx = StageContext(device=job.device, data_dir=job.data_dir, mirror=job.mirror, state_dir=state_dir,
                       world=job.world)
    tags = {"landmark": lm.id, "profile": profile, "reduced_budget": str(prof.reduced_budget).lower(),
            "deterministic": str(job.deterministic).lower(), **git_state(), **versions(), **hardware(job.device)}
    # MLflow's own tags, so its UI shows the run's Source and Version
    tags |= {"mlflow.source.name": f"landmarks train {lm.id}", "mlflow.source.type": "LOCAL",
             "mlflow.source.git.commit": tags["git_commit"]}
    if os.environ.get("DVC_EXP_NAME"):  # set by `dvc exp run`: the runs name the experiment they belong to
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    resolved = {c.name: resolve_recipe(lm, c, profile) for c in claims}
    recipes = {name: r.model_dump(mode="json") for name, r in resolved.items()}
    total = sum(len(c.seeds(prof.seeds)) for c in claims)
    label = " (reduced budget)" if prof.reduced_budget else ""
    log.info("[%s] profile %s%s: %d claims x %d seeds (%d runs) on %s", lm.id, profile, label, len(claims),
             len(prof.seeds), total, machine_label(job.device))
    # read (and its hash checked) once per stage: the runs take it from the stage's cache
    data_hash = ctx.data_hash(lm.dataset) if lm.dataset else ""
    parent_params = {"profile": profile, "seeds": list(prof.seeds), "budget": lm.budget(profile),
                     "recipe": recipes}
    description = f"{lm.title}\n\n{' '.join(lm.citation.split())}\n\n{lm.url}"
    runs = LandmarkRuns(tracker, lm.id, profile, tags, state_dir, description, parent_params)
    stage = _Stage(job, TASKS.get(lm.task), ctx, runs, tags, data_hash, FinishedRuns(state_dir))
    specs = [RunSpec(lm, claim, resolved[claim.name], seed, profile) for claim in claims for seed in claim.seeds(prof.seeds)]
    world = job.world
    results: dict[int, tuple[dict, list[dict]]] = {}
    t_start = time.perf_counter()
    try:
        with StopFlag() as stop:
            stage.stop = stop
            for i, spec in enumerate(specs):
                # under several processes a `parallel: data` run takes them all; any other run is
                # one process's: they are dealt out in turn
                if spec.recipe.parallel != "data" and world.active and i % world.size != world.rank:
                    continue
                results[i] = _one_run(spec, stage)
                if world.writer or spec.recipe.parallel != "data":  # a shared run is told once
                    say_done(results[i][0], len(results), total)
            if world.active:
                _gather(results, specs, stage)
    except Interrupted:
        stage.mlflow.close("KILLED")
        raise
    except BaseException as exc:
        if isinstance(exc, (OSError, StorageError)) and stage.finished.folder.is_dir() and any(
                stage.finished.folder.glob("*.result.json")):
            log.error("  [%s] finished runs are kept in %s: once the problem is fixed, the same command takes "
                      "them as they are and trains only the rest", lm.id, stage.finished.folder)
        stage.mlflow.close("FAILED")
        raise
    rows = [results[i][0] for i in sorted(results)]  # in catalog order, whichever process ran them
    histories = [{"claim": specs[i].claim.name, "seed": specs[i].seed, **h} for i in sorted(results)
                 for h in results[i][1]]
    doc = {
        "landmark": lm.id, "profile": profile, "reduced_budget": prof.reduced_budget,
        "subset": bool(job.only_claims or job.only_seeds),
        "seconds": time.perf_counter() - t_start,
        "provenance": {**tags, "data_hashes": sorted({str(r.get("info.data_hash")) for r in rows})},
        "recipes": recipes,
        "mlflow_parent_run_id": stage.mlflow.parent,
        "runs": rows,
    }
    if not job.world.writer:
        return doc
    try:
        write_atomic(job.out_dir / "metrics.json", json.dumps(doc, indent=1, default=str) + "\n")
        write_atomic(job.out_dir / "history.csv", pd.DataFrame(histories).to_csv(index=False))
    except BaseException:
        # the finished runs stay in the checkpoint folder: the same command writes them without training
        log.error("  [%s] the %d finished runs are kept in %s; run the same command again once %s can be "
                  "written: nothing is trained again", lm.id, len(rows), stage.finished.folder, job.out_dir)
        stage.mlflow.close("FAILED")
        raise
    try:
        summary = summarize(pd.DataFrame(rows), {lm.id: lm})
        records, table = summary.to_dict("records"), landmark_table(summary, lm)
    except Exception as exc:  # noqa: BLE001 (the runs are on disk; `landmarks report` rebuilds the table)
        log.warning("  [%s] the parent run gets no verdicts (%s); the report will have them", lm.id, exc)
        records, table = [], ""
    stage.mlflow.close("FINISHED", records, table, (job.out_dir / "metrics.json", job.out_dir / "history.csv"))
    stage.finished.clear()  # everything is in out_dir now
    log.info("[%s] done in %.1f s -> %s", lm.id, doc["seconds"], job.out_dir)
    return doc


def _gather(results: dict[int, tuple[dict, list[dict]]], specs: list[RunSpec], stage: _Stage) -> None:
    """Every process's own runs to rank 0, which records them in MLflow (children of the one
    parent run) and copies their weights into the output folder."""
    parts = stage.job.world.gather({i: v for i, v in results.items() if specs[i].recipe.parallel != "data"})
    if not stage.job.world.writer:
        return
    for part in parts:
        for i, (row, history) in part.items():
            if i in results:
                continue
            spec = specs[i]
            stage.finished.copy_weights(spec.key, stage.job.out_dir)
            identity, params, tags = _child_fields(spec, stage)
            run_id = stage.mlflow.start_child(f"{spec.claim.name} seed {spec.seed}", spec.key, identity,
                                              {**tags, "rank": row.get("info.rank", "")}, params)
            metrics = {k.removeprefix("metric."): v for k, v in row.items() if k.startswith("metric.")}
            stage.mlflow.finish_child(spec.key, run_id, metrics, history, row["seconds"], {},
                                      stage.job.out_dir / "weights" / f"{spec.key}.pt")
            results[i] = ({**row, "mlflow_run_id": run_id}, history)


def _identity(run: RunSpec, stage: _Stage) -> dict:
    """What a checkpoint or a finished result must match to be taken for this run."""
    claim = run.claim
    return flatten({
        "landmark": run.landmark.id, "claim": claim.name, "model": claim.model, "seed": run.seed,
        "profile": run.profile, "model_args": dict(claim.model_args), "data_args": dict(claim.data_args),
        "recipe": run.recipe.model_dump(mode="json"), "data_hash": stage.data_hash,
        "git_commit": stage.tags["git_commit"], "version.torch": stage.tags["version.torch"],
        "device": stage.tags["hardware.device"],
    })


def _child_fields(run: RunSpec, stage: _Stage) -> tuple[dict, dict, dict]:
    """A run's identity, and the params and tags of its MLflow child run."""
    claim = run.claim
    params = {"claim": claim.name, "model": claim.model, "seed": run.seed, "profile": run.profile,
              "recipe": run.recipe.model_dump(mode="json"), "model_args": dict(claim.model_args),
              "data_args": dict(claim.data_args)}
    tags = {"claim": claim.name, "model": claim.model, "seed": run.seed, "run_key": run.key, "data_hash": stage.data_hash}
    return _identity(run, stage), params, tags


def _one_run(run: RunSpec, stage: _Stage) -> tuple[dict, list[dict]]:
    key, claim, policy = run.key, run.claim, stage.job.checkpoints
    identity = _identity(run, stage)
    if policy.resume != "never":
        done = stage.finished.get(key, identity)
        if done is not None:  # finished before the interruption: keep its result
            if stage.job.world.writer:
                stage.finished.copy_weights(key, stage.job.out_dir)
            return {**done["row"], "resumed": True}, done["history"]
    checkpoint = Checkpointer(Path(policy.dir) / run.profile / run.landmark.id / f"{key}.pt", identity,
                              policy.every_steps, policy.every_seconds)
    payload = checkpoint.load(strict=policy.resume == "always") if policy.resume != "never" else None
    _, params, tags = _child_fields(run, stage)
    run_id = stage.mlflow.start_child(f"{claim.name} seed {run.seed}", key, identity, tags, params,
                                      fresh=policy.resume == "never")
    checkpoint.extra = {"mlflow_run_id": run_id}

    progress = RunProgress(f"{claim.name}, seed {run.seed}", None if run.recipe.max_steps else run.recipe.epochs)

    def on_epoch(row: dict) -> None:
        stage.mlflow.log_epoch(key, run_id, row)
        progress.epoch(row)

    if payload:
        log.info("  %s, seed %s: resuming from step %s (%s)", claim.name, run.seed, payload["state"]["step"],
                 checkpoint.path)
    control = RunControl(checkpoint=checkpoint, resume=payload, stop=stage.stop, on_epoch=on_epoch)
    t0 = time.perf_counter()
    try:
        result: RunResult = stage.task.run(run, stage.ctx, control)
    except TrainingError as exc:
        stage.mlflow.fail_child(run_id, "FAILED", exc)
        if stage.job.world.writer:
            checkpoint.path.unlink(missing_ok=True)
        stage.mlflow.forget_child(key)
        raise
    except Interrupted:
        stage.mlflow.fail_child(run_id, "KILLED")
        raise
    except BaseException as exc:
        stage.mlflow.fail_child(run_id, "FAILED", exc)
        raise
    finally:
        progress.close()
    seconds = time.perf_counter() - t0  # of this process; a resumed run's earlier part is not counted
    metric = run.landmark.metric_of(claim)
    row = {
        "landmark": run.landmark.id, "profile": run.profile,
        "reduced_budget": run.landmark.profile(run.profile).reduced_budget,
        "claim": claim.name, "model": claim.model, "seed": run.seed, "metric": metric,
        "value": result.metrics[metric],
        **{f"metric.{k}": v for k, v in result.metrics.items()},
        **{f"info.{k}": v for k, v in result.info.items()},
        "seconds": seconds, "device": str(stage.job.device), "machine": machine_label(stage.job.device),
        "git_commit": stage.tags["git_commit"], "mlflow_run_id": run_id,
    }
    tags = {"at_chance": "true"} if result.info.get("at_chance") else {}
    for k in ("lr", "precision"):  # what the run resolved from its recipe (a rate search, "auto")
        if k in result.info:
            tags[f"resolved.{k}"] = str(result.info[k])
    world = stage.job.world
    if world.active and run.recipe.parallel == "data":
        row["info.world_size"] = world.size
    elif world.active:  # a whole run of this process's own
        row["info.rank"] = world.rank
    if not world.writer and run.recipe.parallel == "data":
        return row, result.history  # rank 0 keeps it
    # kept where every process can read it (the checkpoint folder): rank 0 gathers it from there
    stage.finished.put(key, identity, row, result.history,
                       result.model.state_dict() if result.model is not None else None)
    if world.writer:
        stage.finished.copy_weights(key, stage.job.out_dir)
    stage.mlflow.finish_child(key, run_id, result.metrics, result.history, seconds, tags,
                              stage.job.out_dir / "weights" / f"{key}.pt")
    checkpoint.path.unlink(missing_ok=True)
    return row, result.history
