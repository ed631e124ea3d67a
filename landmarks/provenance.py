"""What goes with every result: git commit, versions, hardware."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import torch

import landmarks


def _git(*args: str, cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


@lru_cache(maxsize=None)
def git_state(cwd: str = ".") -> dict[str, str]:
    commit = _git("rev-parse", "HEAD", cwd=Path(cwd)) or "unknown"
    dirty = _git("status", "--porcelain", "--untracked-files=no", cwd=Path(cwd))
    return {"git_commit": commit, "git_dirty": "true" if dirty else "false"}


def versions() -> dict[str, str]:
    import numpy

    return {
        "version.landmarks": landmarks.__version__,
        "version.python": platform.python_version(),
        "version.torch": str(torch.__version__),
        "version.numpy": numpy.__version__,
        "version.cuda": torch.version.cuda or "none",
    }


def hardware(device: torch.device) -> dict[str, str]:
    info = {
        "hardware.device": str(device),
        "hardware.cpu": platform.processor() or platform.machine(),
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
