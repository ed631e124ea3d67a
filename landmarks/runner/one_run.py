"""One (claim, seed) run of a job: taken from the finished runs, resumed from its checkpoint, or
trained; recorded in MLflow as a child of the landmark's parent run."""

from __future__ import annotations

import logging
from dataclasses import replace

from landmarks.errors import TrainingError
from landmarks.progress import RunProgress
from landmarks.provenance import machine_label
from landmarks.runner.job import Stage, child_fields, identity as run_identity
from landmarks.tasks import RunControl, RunResult, RunSpec
from landmarks.train.checkpoint import Checkpointer
from landmarks.train.distributed import SINGLE
from landmarks.train.precision import settle_precision
from landmarks.train.signals import Interrupted

log = logging.getLogger(__name__)


def one_run(run: RunSpec, stage: Stage) -> tuple[dict, list[dict]]:
    key, policy = run.key, stage.job.checkpoints
    identity = run_identity(run, stage)
    if policy.resume != "never":
        done = stage.finished.get(key, identity)
        if done is not None:  # finished before the interruption, or on another machine: keep its result
            log.info("  %s, seed %s: finished earlier, taken from %s", run.claim.name, run.seed, done["from"])
            if stage.job.world.writer:
                stage.finished.copy_weights(key, stage.job.out_dir)
            return {**done["row"], "resumed": True}, done["history"]
    checkpoint = Checkpointer(stage.job.state_dir / f"{key}.pt", identity, policy.every_steps, policy.every_seconds)
    payload = checkpoint.load(strict=policy.resume == "always") if policy.resume != "never" else None
    params, tags = child_fields(run, stage)
    run_id = stage.mlflow.start_child(f"{run.claim.name} seed {run.seed}", key, identity, tags, params,
                                      fresh=policy.resume == "never")
    now = stage.tags["git_commit"]
    # the code's commit is provenance, not identity: a run begun under one commit and resumed under
    # another says both (its numbers are the same wherever the training code did not change)
    started = (payload or {}).get("extra", {}).get("git_commit", now)
    # "auto" is settled when a run begins and kept with its checkpoint; the ranks of a
    # data-parallel run settle it together
    world = stage.job.world
    precision = settle_precision(run.recipe.precision, stage.ctx.device,
                                 (payload or {}).get("extra", {}).get("precision"),
                                 world if world.active and run.recipe.parallel == "data" else SINGLE)
    if run.recipe.precision == "auto":
        run = replace(run, recipe=run.recipe.model_copy(update={"precision": precision}))
    checkpoint.extra = {"mlflow_run_id": run_id, "git_commit": started, "precision": precision}
    if payload:
        log.info("  %s, seed %s: resuming from step %s (%s)%s", run.claim.name, run.seed, payload["state"]["step"],
                 checkpoint.path, f", begun at commit {started[:12]}" if started != now else "")
    result = _train(run, stage, checkpoint, payload, run_id)
    row = _row(run, stage, result, checkpoint.seconds(), run_id)
    if started != now:
        row["git_commit_started"] = started
    if not world.writer and run.recipe.parallel == "data":
        return row, result.history  # rank 0 keeps it
    # kept where every process can read it (the checkpoint folder): rank 0 gathers it from there
    stage.finished.put(key, identity, row, result.history,
                       result.model.state_dict() if result.model is not None else None)
    if world.writer:
        stage.finished.copy_weights(key, stage.job.out_dir)
    stage.mlflow.finish_child(key, run_id, result.metrics, result.history, row["seconds"], _resolved_tags(result),
                              stage.job.out_dir / "weights" / f"{key}.pt")
    checkpoint.path.unlink(missing_ok=True)
    return row, result.history


def _train(run: RunSpec, stage: Stage, checkpoint: Checkpointer, payload: dict | None, run_id: str) -> RunResult:
    """The task's run, its epochs told to MLflow and the progress bar; the child run closed as
    FAILED or KILLED when it does not finish."""
    progress = RunProgress(f"{run.claim.name}, seed {run.seed}", None if run.recipe.max_steps else run.recipe.epochs,
                           stage.task.steps_budget(run.recipe), payload["state"]["step"] if payload else 0)

    def on_epoch(row: dict) -> None:
        stage.mlflow.log_epoch(run.key, run_id, row)
        progress.epoch(row)

    control = RunControl(checkpoint=checkpoint, resume=payload, stop=stage.stop, on_epoch=on_epoch)
    try:
        return stage.task.run(run, stage.ctx, control)
    except TrainingError as exc:
        stage.mlflow.fail_child(run_id, "FAILED", exc)
        if stage.job.world.writer:
            checkpoint.path.unlink(missing_ok=True)
        stage.mlflow.forget_child(run.key)
        raise
    except Interrupted:
        stage.mlflow.fail_child(run_id, "KILLED")
        raise
    except BaseException as exc:
        stage.mlflow.fail_child(run_id, "FAILED", exc)
        raise
    finally:
        progress.close()


def _resolved_tags(result: RunResult) -> dict:
    tags = {"at_chance": "true"} if result.info.get("at_chance") else {}
    for k in ("lr", "precision"):  # what the run resolved from its recipe (a rate search, "auto")
        if k in result.info:
            tags[f"resolved.{k}"] = str(result.info[k])
    return tags


def _row(run: RunSpec, stage: Stage, result: RunResult, seconds: float, run_id: str) -> dict:
    """The run's row of metrics.json; `seconds` over every process that trained it (a resumed
    run's earlier part up to its last checkpoint included)."""
    metric = run.landmark.metric_of(run.claim)
    row = {
        "landmark": run.landmark.id, "profile": run.profile,
        "reduced_budget": run.landmark.profile(run.profile).reduced_budget,
        "claim": run.claim.name, "model": run.claim.model, "seed": run.seed, "metric": metric,
        "value": result.metrics[metric],
        **{f"metric.{k}": v for k, v in result.metrics.items()},
        **{f"info.{k}": v for k, v in result.info.items()},
        "seconds": seconds, "device": str(stage.job.device), "machine": machine_label(stage.job.device),
        "code_commit": stage.tags["code_commit"], "git_commit": stage.tags["git_commit"], "mlflow_run_id": run_id,
    }
    world = stage.job.world
    if world.active and run.recipe.parallel == "data":
        row["info.world_size"] = world.size
    elif world.active:  # a whole run of this process's own
        row["info.rank"] = world.rank
    return row


def gather(results: dict[int, tuple[dict, list[dict]]], specs: list[RunSpec], stage: Stage) -> None:
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
            identity, (params, tags) = run_identity(spec, stage), child_fields(spec, stage)
            run_id = stage.mlflow.start_child(f"{spec.claim.name} seed {spec.seed}", spec.key, identity,
                                              {**tags, "rank": row.get("info.rank", "")}, params)
            metrics = {k.removeprefix("metric."): v for k, v in row.items() if k.startswith("metric.")}
            stage.mlflow.finish_child(spec.key, run_id, metrics, history, row["seconds"], {},
                                      stage.job.out_dir / "weights" / f"{spec.key}.pt")
            results[i] = ({**row, "mlflow_run_id": run_id}, history)
