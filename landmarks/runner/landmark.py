"""Run one landmark under one profile: every claim, every seed.

    landmarks train xor-backprop --profile quick

Writes `<out>/metrics.json` (one row per run, with provenance and the resolved recipes),
`<out>/history.csv` (one row per run and epoch), `<out>/run-info.json` (times and MLflow ids,
`landmarks.run_files`) and `<out>/weights/<run>.pt` (final weights), and records everything in
MLflow (`landmarks.tracking.runs`).

Runs survive interruption: each run checkpoints under `checkpoints/<profile>/<landmark>/`, a
finished run leaves its result there (`FinishedRuns`), and running the same command again skips
finished runs and resumes the interrupted one, in the same MLflow run. The folder is removed
once the landmark is complete.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Callable

from landmarks.catalog import Landmark, resolve_recipe
from landmarks.errors import StorageError
from landmarks.files import ensure_writable
from landmarks.lock import exclusive
from landmarks.progress import say_done
from landmarks.provenance import git_state, hardware, machine_label, versions
from landmarks.run_files import RUN_INFO, write_outputs
from landmarks.runner.job import Stage, TrainJob
from landmarks.runner.merge import merge_with_previous
from landmarks.runner.one_run import gather, one_run
from landmarks.tasks import TASKS, RunSpec, StageContext
from landmarks.tracking import LandmarkRuns, Tracker
from landmarks.train.checkpoint import FinishedRuns
from landmarks.train.signals import Interrupted, StopFlag

log = logging.getLogger(__name__)


# the landmark's finished rows -> (a record per claim: paper, mean, interval, verdict; its table in
# Markdown), for the MLflow parent run; given by the caller, so training imports no report code
Verdicts = Callable[[list[dict], Landmark], tuple[list[dict], str]]


def train_landmark(job: TrainJob, tracker: Tracker | None = None, verdicts: Verdicts | None = None) -> dict:
    """Every claim x seed of the job; returns (and writes) the metrics.json document. One process
    at a time per (profile, landmark); the folders it writes are checked before anything trains."""
    state_dir = job.state_dir
    if not job.world.writer:  # another rank of this job writes, and holds the lock
        return _train_landmark(job, None, verdicts)
    for folder, option in ((job.out_dir, "--models"), (state_dir, "train.checkpoint.dir in params.yaml")):
        ensure_writable(folder, option)
    with exclusive(state_dir / "lock", f"{job.landmark.id} (profile {job.profile})"):
        return _train_landmark(job, tracker, verdicts)


def _train_landmark(job: TrainJob, tracker: Tracker | None, verdicts: Verdicts | None) -> dict:
    stage, specs, recipes = _open(job, tracker)
    results: dict[int, tuple[dict, list[dict]]] = {}
    t_start = time.perf_counter()
    try:
        with StopFlag() as stop:
            stage.stop = stop
            _run_all(stage, specs, results)
    except Interrupted:
        stage.mlflow.close("KILLED")
        raise
    except BaseException as exc:
        if isinstance(exc, (OSError, StorageError)) and stage.finished.folder.is_dir() and any(
                stage.finished.folder.glob("*.result.json")):
            log.error("  [%s] finished runs are kept in %s: once the problem is fixed, the same command takes "
                      "them as they are and trains only the rest", job.landmark.id, stage.finished.folder)
        stage.mlflow.close("FAILED")
        raise
    rows = [results[i][0] for i in sorted(results)]  # in catalog order, whichever process ran them
    histories = [{"claim": specs[i].claim.name, "seed": specs[i].seed, **h} for i in sorted(results)
                 for h in results[i][1]]
    prof = job.landmark.profile(job.profile)
    doc = {
        "landmark": job.landmark.id, "profile": job.profile, "reduced_budget": prof.reduced_budget,
        "subset": bool(job.only_claims or job.only_seeds),
        "seconds": time.perf_counter() - t_start,
        "provenance": {**stage.tags, "data_hashes": sorted({str(r.get("info.data_hash")) for r in rows})},
        "recipes": recipes,
        "mlflow_parent_run_id": stage.mlflow.parent,
        "runs": rows,
    }
    if job.world.writer:
        if doc["subset"]:  # some claims or seeds: added to the results already there, not replacing them
            doc, histories = merge_with_previous(doc, histories, job.out_dir, *_profile_runs(job))
        _write(job, stage, doc, histories, verdicts)
    return doc


def _profile_runs(job: TrainJob) -> tuple[list[tuple[str, int]], dict[str, dict]]:
    """Every (claim, seed) of the job's profile in catalog order, and every claim's recipe."""
    lm, seeds = job.landmark, job.landmark.profile(job.profile).seeds
    claims = lm.claims_for(job.profile)
    return ([(c.name, s) for c in claims for s in c.seeds(seeds)],
            {c.name: resolve_recipe(lm, c, job.profile).model_dump(mode="json") for c in claims})


def _open(job: TrainJob, tracker: Tracker | None) -> tuple[Stage, list[RunSpec], dict]:
    """The stage (data read and hashed once, the MLflow parent opened) and the runs to make."""
    lm, profile = job.landmark, job.profile
    prof = lm.profile(profile)
    claims = tuple(lm.claim_in(n, profile) for n in job.only_claims) if job.only_claims else lm.claims_for(profile)
    seeds = tuple(job.only_seeds) or prof.seeds
    ctx = StageContext(device=job.device, data_dir=job.data_dir, mirror=job.mirror, state_dir=job.state_dir,
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
    specs = [RunSpec(lm, claim, resolved[claim.name], seed, profile) for claim in claims for seed in claim.seeds(seeds)]
    label = " (reduced budget)" if prof.reduced_budget else ""
    log.info("[%s] profile %s%s: %d claims x %d seeds (%d runs) on %s", lm.id, profile, label, len(claims),
             len(seeds), len(specs), machine_label(job.device))
    # read (and its hash checked) once per stage: the runs take it from the stage's cache
    data_hash = ctx.data_hash(lm.dataset) if lm.dataset else ""
    parent_params = {"profile": profile, "seeds": list(seeds), "budget": lm.budget(profile), "recipe": recipes}
    description = f"{lm.title}\n\n{' '.join(lm.citation.split())}\n\n{lm.url}"
    runs = LandmarkRuns(tracker, lm.id, profile, tags, job.state_dir, description, parent_params)
    return Stage(job, TASKS.get(lm.task), ctx, runs, tags, data_hash, FinishedRuns(job.state_dir, job.kept_dir)), specs, recipes


def _run_all(stage: Stage, specs: list[RunSpec], results: dict[int, tuple[dict, list[dict]]]) -> None:
    world = stage.job.world
    for i, spec in enumerate(specs):
        # under several processes a `parallel: data` run takes them all; any other run is one
        # process's: they are dealt out in turn
        if spec.recipe.parallel != "data" and world.active and i % world.size != world.rank:
            continue
        results[i] = one_run(spec, stage)
        if world.writer or spec.recipe.parallel != "data":  # a shared run is told once
            say_done(results[i][0], len(results), len(specs))
    if world.active:
        gather(results, specs, stage)


def _write(job: TrainJob, stage: Stage, doc: dict, histories: list[dict], verdicts: Verdicts | None) -> None:
    lm, rows = job.landmark, doc["runs"]
    try:
        write_outputs(job.out_dir, doc, histories)
    except BaseException:
        # the finished runs stay in the checkpoint folder: the same command writes them without training
        log.error("  [%s] the %d finished runs are kept in %s; run the same command again once %s can be "
                  "written: nothing is trained again", lm.id, len(rows), stage.finished.folder, job.out_dir)
        stage.mlflow.close("FAILED")
        raise
    records, table = [], ""
    try:
        if verdicts is not None:
            records, table = verdicts(rows, lm)
    except Exception as exc:  # noqa: BLE001 (the runs are on disk; `landmarks report` rebuilds the table)
        log.warning("  [%s] the parent run gets no verdicts (%s); the report will have them", lm.id, exc)
    stage.mlflow.close("FINISHED", records, table,
                       tuple(job.out_dir / f for f in ("metrics.json", "history.csv", RUN_INFO)))
    stage.finished.clear()  # everything is in out_dir now
    log.info("[%s] done in %.1f s -> %s", lm.id, doc["seconds"], job.out_dir)
