"""Stopping a run cleanly: SIGINT (Ctrl-C) and SIGTERM (a cluster's preemption) set a flag that
the training loop reads after every step; it then writes a checkpoint and raises `Interrupted`.
A second Ctrl-C stops at once."""

from __future__ import annotations

import signal
from typing import Any

from landmarks.errors import LandmarksError


class Interrupted(LandmarksError):
    """Stopped by SIGINT or SIGTERM after writing a checkpoint."""

    def __init__(self, msg: str, signum: int) -> None:
        super().__init__(msg)
        self.exit_code = 128 + signum


class StopFlag:
    """Set by SIGINT / SIGTERM; the training loop checks it after every step."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def _handler(self, signum: int, frame: Any) -> None:
        if self.signum is not None:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> "StopFlag":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
