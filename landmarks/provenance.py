"""What goes with every result: git commit, versions, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import torch

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


# what a run runs: the package, the catalog, the pipeline and its parameters, the dependencies'
# pins. A commit that touches only the docs, the tests or the outputs of runs leaves it as it was.
RUN_CODE = ("landmarks/", "benchmarks/", "dvc.yaml", "params.yaml", "pyproject.toml")


def code_commit(cwd: str = ".") -> str:
    """The newest commit that changed what a run runs (`RUN_CODE`): the commit of the code. A commit
    that adds the reports and dvc.lock of a run, or edits the README, leaves it unchanged, so a
    fresh clone that runs again records the commit the committed report names (HEAD would not)."""
    return _git("log", "-1", "--format=%H", "--", *RUN_CODE, cwd=Path(cwd))


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
