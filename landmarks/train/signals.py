"""Stopping a run cleanly: SIGINT (Ctrl-C), SIGTERM (a cluster's preemption) and SIGHUP (a closed
terminal, a dropped ssh connection) set a flag that the training loop reads after every step; it
then writes a checkpoint and raises `Interrupted`. A second Ctrl-C stops at once.

    landmarks train xor-backprop   # then close the terminal: a checkpoint, exit 129; run it again to resume
"""

from __future__ import annotations

import signal
from typing import Any

from landmarks.errors import LandmarksError

# SIGHUP's default action ends the process at once, losing the work since the last periodic
# checkpoint; Windows has no SIGHUP
HANGUP = getattr(signal, "SIGHUP", None)
SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, HANGUP) if s is not None)


class Interrupted(LandmarksError):
    """Stopped by SIGINT, SIGTERM or SIGHUP after writing a checkpoint."""

    def __init__(self, msg: str, signum: int) -> None:
        super().__init__(msg)
        self.exit_code = 128 + signum


class StopFlag:
    """Set by SIGINT / SIGTERM / SIGHUP; the training loop checks it after every step."""

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
        for sig in SIGNALS:
            if sig == HANGUP and signal.getsignal(sig) == signal.SIG_IGN:
                continue  # started under `nohup`: the user asked the run to outlive the terminal
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
