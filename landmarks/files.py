"""Writing files so that a reader never sees half of one: the project's one atomic-write helper.

Everything the project stores (metrics, histories, checkpoints, weights, reports, params.yaml)
goes to a temporary name in the same folder, is flushed to disk, and is renamed over the old
file only when complete. If the write fails, the temporary file is removed and the old file
stays as it was.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shutil
from pathlib import Path
from typing import IO, Iterator

from landmarks.errors import ConfigError, StorageError


@contextlib.contextmanager
def atomic_open(path: Path, binary: bool = False) -> Iterator[IO]:
    """A file object to write `path` through; it replaces `path` when the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        problem = out_of_space(exc, path, tmp)
        if problem:
            raise StorageError(problem) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)


_NO_SPACE = {errno.ENOSPC: "disk full", errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}


def _os_error(exc: BaseException | None) -> OSError | None:
    """The OSError that is `exc` or that it was raised from or while handling, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def out_of_space(exc: BaseException, path: Path, partial: Path | None = None) -> str | None:
    """The message for a write that ran out of space, or None for any other failure. torch.save
    reports the same errno as a RuntimeError: "file write failed" when it writes the file itself,
    "unexpected pos ..." when it writes through a Python file object, whose OSError is then the
    RuntimeError's context; both count."""
    cause = _os_error(exc)
    if cause is not None and cause.errno in _NO_SPACE:
        exc, what = cause, _NO_SPACE[cause.errno]
    elif isinstance(exc, RuntimeError) and "write failed" in str(exc):
        what = "no space to write (disk full or file size limit)"
    else:
        return None
    written = partial.stat().st_size if partial is not None and partial.exists() else 0
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = 0
    need_mb = max(1, math.ceil(2 * max(written, path.stat().st_size if path.exists() else 0) / 2**20))
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        fix = "raise the file size limit (`ulimit -f`)"
    elif isinstance(exc, OSError):
        fix = f"free {need_mb} MB"
    else:  # torch does not say which
        fix = f"free {need_mb} MB (or raise the file size limit, `ulimit -f`)"
    return (f"{what} at {path.parent} writing {path.name} ({written / 2**20:.1f} MB written, "
            f"{free / 2**20:.0f} MB free): {fix} and run again; what was stored before is intact and the "
            "run resumes from its last checkpoint")


def write_atomic(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def ensure_writable(folder: Path, option: str) -> None:
    """Refuse, before any work, a folder where results could not be written (read-only, not a
    folder, no permission): the message names it and the setting that chooses another."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write to {folder} ({exc.strerror}): make it writable, or choose another folder "
                          f"with {option}; nothing was trained") from None
