"""One process per (profile, landmark): two `train`s of the same landmark would write into the same
checkpoints, results and MLflow runs.

The lock is an advisory `flock` on a file in the landmark's checkpoint folder. The kernel drops it
when its process ends, however it ends (SIGKILL included), so no stale lock is ever left to clean
up; the file names the holder for the message the second process prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator

from landmarks.errors import BusyError


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold `path`'s lock for the block; a BusyError naming the holder when another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(_busy_message(path, what)) from None
        holder = {"pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv)}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _busy_message(path: Path, what: str) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        who = f"process {holder['pid']} (since {holder['since']}: {holder['command']})"
        stop = f"`kill {holder['pid']}` (it checkpoints and exits)"
    except (OSError, ValueError, KeyError):
        who, stop = "another process", "stop it"
    return (f"{what} is already being trained by {who}; wait for it to finish, or {stop} and run this "
            f"command again to resume. Lock: {path}")
