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
import shlex
import sys
import time
from pathlib import Path
from typing import Iterator

from landmarks.errors import BusyError


LOCK_TRIES = 10  # 50 ms apart
COMMAND_ENV = "LANDMARKS_COMMAND"  # set by `landmarks train --nproc-per-node` for the processes it starts


def invocation() -> str:
    """The command that started this job, quoted as a shell takes it (`landmarks status` offers it
    to resume with): the one typed where `landmarks train --nproc-per-node` started torchrun; a
    `python -m landmarks` process (torchrun's) as such, under the torchrun that started it."""
    if os.environ.get(COMMAND_ENV):
        return os.environ[COMMAND_ENV]
    argv = list(sys.argv)
    if not argv or Path(argv[0]).name != "__main__.py":
        return shlex.join(argv)
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return shlex.join([sys.executable, "-m", "landmarks", *argv[1:]])
    nodes = int(os.environ.get("GROUP_WORLD_SIZE", "1"))
    command = shlex.join(["torchrun", f"--nproc-per-node={os.environ.get('LOCAL_WORLD_SIZE', '1')}",
                          f"--nnodes={nodes}", "-m", "landmarks", *argv[1:]])
    # the rendezvous options a node was started with are not known here
    return command + ("  # on each node, with its --rdzv-endpoint and --node-rank" if nodes > 1 else "")


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold `path`'s lock for the block; a BusyError naming the holder when another process has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        # a few tries: `landmarks status` probes the lock with a shared one for an instant
        for attempt in range(LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == LOCK_TRIES - 1:
                    raise BusyError(_busy_message(path, what)) from None
                time.sleep(0.05)
        who = {"pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S"), "command": invocation()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(who).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def holder(path: Path) -> dict | None:
    """The process that holds `path`'s lock now ({"pid", "since", "command"}; {} when the file does
    not say), or None when none does. Probed with a shared lock taken and dropped at once."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _busy_message(path: Path, what: str) -> str:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        who = f"process {holder['pid']} (since {holder['since']}: {holder['command']})"
        stop = f"`kill {holder['pid']}` (it checkpoints and exits)"
    except (OSError, ValueError, KeyError):
        who, stop = "another process", "stop it"
    return (f"{what} is already being trained by {who}; wait for it to finish, or {stop} and run this "
            f"command again to resume. Lock: {path}")
