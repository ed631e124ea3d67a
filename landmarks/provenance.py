"""What goes with every result: git commit, versions, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import torch
import yaml

import landmarks


def _git(*args: str, cwd: Path | None = None, strip: bool = True) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    if out.returncode != 0:
        return ""
    return out.stdout.strip() if strip else out.stdout


def changed_files(porcelain: str, limit: int = 10) -> str:
    """The tracked files `git status --porcelain` lists, comma-separated, at most `limit` named.

    Naming them tells a reader whether "uncommitted changes" touched code or only the profile
    switch (`params.yaml`); what runs write themselves (`WRITTEN_BY_RUNS`) is not counted.
    """
    paths = []
    for line in porcelain.splitlines():
        if len(line) > 3:
            path = line[3:]
            paths.append(path.split(" -> ")[-1])  # a rename: its new name
    named = ", ".join(paths[:limit])
    return named + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


# files the pipeline itself writes while it runs: DVC's lock between stages, the reports, the
# records of finished runs. A change to them is not a change to what ran.
WRITTEN_BY_RUNS = ("dvc.lock", "reports/", "runs/")


# what every run runs besides its stage's code: the catalog, the pipeline, its parameters, the
# dependencies' pins
RUN_CONFIG = ("benchmarks/", "dvc.yaml", "params.yaml", "pyproject.toml")
# the code itself where there is no dvc.yaml to name a training stage's dependencies
RUN_CODE = ("landmarks/", *RUN_CONFIG)
TRAIN_STAGES = ("train", "train-generated")


def run_code(root: Path) -> tuple[str, ...]:
    """The paths whose changes change what a training run runs: the deps dvc.yaml gives its
    training stages (the ones without a template: the per-landmark file is in `benchmarks/`), and
    `RUN_CONFIG`. The report's code is not among them: a commit to it moves the report stage alone."""
    try:
        stages = (yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8")) or {}).get("stages", {})
        bodies = [stages[n].get("do", stages[n]) for n in TRAIN_STAGES if isinstance(stages.get(n), dict)]
        deps = [d for body in bodies for d in (body.get("deps") or []) if isinstance(d, str) and "${" not in d]
    except (OSError, yaml.YAMLError, AttributeError, TypeError):  # none, unreadable, or not DVC's shape
        return RUN_CODE
    return (*dict.fromkeys(deps), *RUN_CONFIG) if deps else RUN_CODE


def code_commit(cwd: str = ".") -> str:
    """The newest commit that changed what a training run runs (`run_code`): the commit of its code.
    A commit that adds the reports and dvc.lock of a run, edits the README or the report's code
    leaves it unchanged, so a fresh clone that trains again records the commit the committed
    results name (HEAD would not), and DVC's lock sees the same outputs."""
    return _git("log", "-1", "--format=%H", "--", *run_code(Path(cwd)), cwd=Path(cwd))


def git_state(cwd: str = ".") -> dict[str, str]:
    commit = _git("rev-parse", "HEAD", cwd=Path(cwd)) or "unknown"
    # not stripped: the first line's leading space is part of porcelain's XY status
    porcelain = _git("status", "--porcelain", "--untracked-files=no", cwd=Path(cwd), strip=False)
    kept = [ln for ln in porcelain.splitlines()
            if len(ln) > 3 and not ln[3:].split(" -> ")[-1].startswith(WRITTEN_BY_RUNS)]
    changed = changed_files("\n".join(kept))
    return {"git_commit": commit, "code_commit": code_commit(cwd) or commit,
            "git_dirty": "true" if changed else "false", "git_changed": changed}


def versions() -> dict[str, str]:
    import numpy

    return {
        "version.landmarks": landmarks.__version__,
        "version.python": platform.python_version(),
        "version.torch": str(torch.__version__),
        "version.numpy": numpy.__version__,
        "version.cuda": torch.version.cuda or "none",
    }


def cpu_name() -> str:
    """The CPU's model name ("AMD EPYC", "Intel(R) Xeon(R) Platinum 8480C"); Linux reports it in
    /proc/cpuinfo, where platform.processor() gives only the architecture."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: torch.device) -> dict[str, str]:
    info = {
        "hardware.device": str(device),
        "hardware.cpu": cpu_name(),
        "hardware.cpu_count": str(os.cpu_count()),
        "hardware.platform": sys.platform,
    }
    if device.type == "cuda":
        info["hardware.gpu"] = torch.cuda.get_device_name(device)
    return info


def machine_label(device: torch.device) -> str:
    """A short name for tables: the GPU's name, or the CPU with its core count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"
