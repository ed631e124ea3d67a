"""Waiting on a process a test started (a helper module, not a test)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def wait_for(cond, proc: subprocess.Popen, what: str, timeout: float = 300, log: Path | None = None) -> None:
    """Until `cond()` holds; fails naming `what` if the process ends first or time runs out. The
    failure shows the process's stderr: its pipe, or `log` where it was sent to a file."""
    deadline = time.time() + timeout
    while not cond():
        if proc.poll() is not None:
            err = log.read_text() if log else proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the run ended before {what}: {err}")
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
