"""`landmarks status`: the training begun here and not finished, and how to go on with it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from landmarks.cli.options import params

if TYPE_CHECKING:
    from landmarks.status import JobState


def cmd_status(args: argparse.Namespace) -> int:
    from landmarks.catalog import check_profile, load_catalog
    from landmarks.status import job_states

    p = params(args)
    catalog = load_catalog(args.catalog)
    if args.profile:
        check_profile(catalog, args.profile, "--profile")  # an unknown one: a clear error, exit 2
    folder, kept = Path(p.train.checkpoint.dir), Path(p.train.checkpoint.keep_dir)
    jobs = job_states(folder, kept, catalog, args.profile)
    if not jobs:
        print(f"no training in progress under {folder}/" + (f" for profile {args.profile}" if args.profile else "")
              + f"; finished runs are in models/<profile>/ (and, for {', '.join(p.train.checkpoint.keep_profiles)}, "
              f"records in {kept}/)")
        return 0
    for job in jobs:
        print("\n".join(describe(job, kept)))
    return 0


def describe(job: JobState, kept: Path) -> list[str]:
    """A job's lines: what trains it (or the command that resumes it), each unfinished run, the
    finished ones."""
    from landmarks.status import age

    head = f"{job.landmark} [{job.profile}]: "
    if job.running is not None:
        who = job.running
        head += f"training now (process {who.get('pid', '?')}, since {who.get('since', '?')})"
    else:
        head += "stopped" + (f"; resume with: {job.command}" if job.command else
                             f"; resume with: landmarks train {job.landmark} --profile {job.profile}")
    lines = [head]
    for run in job.runs:
        where = f"step {run.step:,}" + (f" of {run.budget:,} ({100 * run.step / run.budget:.0f}%)" if run.budget else "")
        if run.epoch is not None:
            where += f", epoch {run.epoch}" + (f" of {run.epochs}" if run.epochs else "")
        left = run.left()
        pace = f"; trained {_hours(run.seconds)}" + (f", about {_hours(left)} left at its pace" if left is not None else "")
        last = f"; last {run.last}" if run.last else ""
        lines.append(f"  {run.claim}, seed {run.seed}: {where}{pace}{last}; checkpoint saved {age(run.saved)}")
    planned = f" of {job.planned}" if job.planned is not None else ""
    records = kept / job.profile / job.landmark
    lines.append(f"  finished: {job.finished}{planned} runs of the profile"
                 + (f" (records kept in {records}/: commit them)" if job.finished and records.is_dir() else ""))
    lines += [f"  problem: {p}" for p in job.problems]
    return lines


def _hours(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("status", parents=parents, help="training begun and not finished: each run's step, "
                        "whether a process is on it, the command that resumes it")
    sp.add_argument("--profile", help="only this profile's jobs")
    sp.set_defaults(func=cmd_status)
