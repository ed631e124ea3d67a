"""Writing files so that a reader never sees half of one: the project's one atomic-write helper.

Everything the project stores (metrics, histories, checkpoints, weights, reports, params.yaml)
goes to a temporary name in the same folder, is flushed to disk, and is renamed over the old
file only when complete. If the write fails, the temporary file is removed and the old file
stays as it was.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO, Iterator


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
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)
