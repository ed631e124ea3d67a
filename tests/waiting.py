"""Waiting on a process a test started (a helper module, not a test)."""

from __future__ import annotations

import subprocess
import time


def wait_for(cond, proc: subprocess.Popen, what: str, timeout: float = 300) -> None:
    """Until `cond()` holds; fails naming `what` if the process ends first or time runs out."""
    deadline = time.time() + timeout
    while not cond():
        assert proc.poll() is None, f"the run ended before {what}: {proc.stderr.read() if proc.stderr else ''}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
