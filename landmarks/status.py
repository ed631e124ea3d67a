"""What `landmarks status` reads: the training jobs begun under the checkpoint folder and not
finished, each run's step against its budget, whether a process is training it now, and the
command that resumes it.

Everything comes from files a job leaves (docs/resume.md): `<checkpoints>/<profile>/<landmark>/`
holds a checkpoint per unfinished run, a `.result.json` per finished one and the lock, which names
the last process that held it; `<keep_dir>/<profile>/<landmark>/` the kept records of a long
profile's finished runs. A checkpoint is opened memory-mapped: its step is read without reading
its tensors (a DQN's replay memory is gigabytes).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import torch

from landmarks.catalog import Landmark
from landmarks.lock import holder


@dataclass(frozen=True)
class RunState:
    """One unfinished run, as its checkpoint last saved it."""

    claim: str
    seed: int
    step: int
    budget: int | None  # the run's steps in all, where its recipe counts them (max_steps, a DQN's)
    epoch: int | None
    epochs: int | None
    seconds: float  # trained so far, over every process that trained it
    saved: float  # when the checkpoint was written (epoch seconds)
    last: str | None = None  # its latest evaluation, in words
    recent: tuple[int, float] | None = None  # (steps, seconds) between its last two checkpoints

    def left(self) -> float | None:
        """Seconds still to train, where its budget is in steps: at the pace between its last two
        checkpoints, else at its pace over the whole run."""
        if not self.budget or self.step <= 0:
            return None
        steps, seconds = self.recent if self.recent and self.recent[0] > 0 else (self.step, self.seconds)
        return max(self.budget - self.step, 0) * seconds / steps


@dataclass(frozen=True)
class JobState:
    """One (profile, landmark) job's folder."""

    landmark: str
    profile: str
    folder: Path
    running: dict | None  # the process training it now ({"pid", "since", "command"}), or None
    command: str  # the command that began it last: run it again to resume
    runs: list[RunState] = field(default_factory=list)
    finished: int = 0  # runs with a result kept (in the folder or under keep_dir)
    planned: int | None = None  # the runs its profile has, where the catalog knows the landmark
    problems: list[str] = field(default_factory=list)


def job_states(checkpoint_dir: Path, keep_dir: Path, catalog: Mapping[str, Landmark],
               profile: str | None = None) -> list[JobState]:
    """Every job folder under `checkpoint_dir` (of `profile` only, when given), by profile and landmark."""
    if not checkpoint_dir.is_dir():
        return []
    jobs = []
    for profile_dir in sorted(p for p in checkpoint_dir.iterdir() if p.is_dir()):
        if profile is not None and profile_dir.name != profile:
            continue
        for folder in sorted(p for p in profile_dir.iterdir() if p.is_dir()):
            jobs.append(_job(folder, profile_dir.name, keep_dir, catalog))
    return jobs


def _job(folder: Path, profile: str, keep_dir: Path, catalog: Mapping[str, Landmark]) -> JobState:
    # a job written elsewhere (--models) has its folder named <landmark>+<hash of that folder>
    landmark_id = folder.name.split("+")[0]
    lm = catalog.get(landmark_id)
    running = holder(folder / "lock")
    last = _last_holder(folder / "lock")
    runs, problems = [], []
    # a finished run's final weights (<key>.weights.pt) wait beside the checkpoints: not a checkpoint
    for path in sorted(p for p in folder.glob("*.pt") if not p.name.endswith(".weights.pt")):
        try:
            runs.append(_run(path, lm, profile))
        except Exception as exc:  # a damaged or foreign file: said, and the others still shown
            problems.append(f"{path.name}: cannot be read ({type(exc).__name__}: {exc})")
    keys = {p.name.removesuffix(".result.json") for p in folder.glob("*.result.json")}
    if folder.name == landmark_id:  # only the usual output folder keeps records under keep_dir
        keys |= {p.stem for p in (keep_dir / profile / landmark_id).glob("*.json")}
    planned = None
    if lm is not None and profile in lm.profiles:
        planned = sum(len(c.seeds(lm.profile(profile).seeds)) for c in lm.claims_for(profile))
    elif lm is None:
        problems.append(f"no landmark {landmark_id!r} in the catalog")
    return JobState(landmark_id, profile, folder, running, resume_command(last.get("command", "")), runs, len(keys),
                    planned, problems)


def resume_command(command: str) -> str:
    """The command that began a job, as the one that resumes it: without `--restart`, which would
    set its checkpoints aside."""
    try:
        words = shlex.split(command)
    except ValueError:  # not a command line a shell takes: given as it is
        return command
    return shlex.join(w for w in words if w != "--restart") if "--restart" in words else command


def _last_holder(lock: Path) -> dict:
    try:
        return json.loads(lock.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _run(path: Path, lm: Landmark | None, profile: str) -> RunState:
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    identity, state = payload.get("identity", {}), payload["state"]
    claim, seed = str(identity.get("claim", path.stem)), int(identity.get("seed", -1))
    budget, epochs = _budget(lm, claim, profile)
    epoch = state.get("epoch")
    extra = payload.get("extra", {})
    marks = extra.get("marks") or []
    recent = (int(marks[-1][0] - marks[-2][0]), float(marks[-1][1] - marks[-2][1])) if len(marks) >= 2 else None
    return RunState(claim, seed, int(state["step"]), budget, int(epoch) if epoch is not None else None, epochs,
                    float(extra.get("seconds", 0.0)), path.stat().st_mtime, _last_evaluation(payload), recent)


def _last_evaluation(payload: dict) -> str | None:
    """The latest validation error (classification) or evaluation score (DQN) the run has logged."""
    for row in reversed(payload.get("curve") or payload["state"].get("history") or []):
        if row.get("eval_score") is not None:
            return f"evaluation score {row['eval_score']:g} at step {int(row['agent_steps']):,}"
        if row.get("val_error") is not None:
            return f"validation error {row['val_error']:.2f}% at epoch {row['epoch']}"
    return None


def _budget(lm: Landmark | None, claim_name: str, profile: str) -> tuple[int | None, int | None]:
    """(steps in all where the recipe counts them, epochs) of a claim's run under the profile."""
    if lm is None or profile not in lm.profiles:
        return None, None
    from landmarks.catalog import resolve_recipe
    from landmarks.tasks import TASKS

    claim = next((c for c in lm.claims if c.name == claim_name), None)
    if claim is None:
        return None, None
    recipe = resolve_recipe(lm, claim, profile)
    return TASKS.get(lm.task).steps_budget(recipe), recipe.epochs


def age(saved: float, now: float | None = None) -> str:
    """"3 min ago", "2.1 h ago"."""
    seconds = max((now or time.time()) - saved, 0)
    return f"{seconds:.0f} s ago" if seconds < 60 else f"{seconds / 60:.0f} min ago" if seconds < 5400 \
        else f"{seconds / 3600:.1f} h ago"
