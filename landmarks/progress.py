"""Progress of one run, epoch by epoch: a tqdm bar on a terminal, plain lines elsewhere.

On a terminal (stderr is a TTY) each run gets a bar with epoch n/N, the last loss and training
error, and tqdm's ETA; it disappears when the run ends, leaving the one-line result. Elsewhere
(CI logs, `dvc repro` piped to a file) a plain line is written per epoch with -v, and at most one a
minute otherwise, so a long run is never silent for long. -q shows neither.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time

log = logging.getLogger("landmarks.runner")

QUIET_EVERY_S = 60.0  # without -v and without a terminal: a line at most this often


def _terminal_width() -> int:
    """Columns of the terminal stderr is, 0 when it is none. Some pseudo-terminals (a CI runner's,
    a container's without a size) report 0 columns: a bar there draws nothing, so they get the
    plain lines a log gets."""
    if not sys.stderr.isatty():
        return 0
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 0


def _step_of(row: dict) -> int | None:
    """The optimizer's steps so far, or a DQN agent's (its rows count agent steps)."""
    step = row.get("step", row.get("agent_steps"))
    return None if step is None else int(step)


def _time_left(seconds: float) -> str:
    return f"about {seconds / 60:.1f} min left" if seconds < 5400 else f"about {seconds / 3600:.1f} h left"


class RunProgress:
    """`total_steps`: a run whose budget is counted in steps (64k iterations, 1M agent steps) is
    paced by its steps since `start_step` (where a resumed run took up), so the first line after a
    resume already has the right time left, whatever part of an epoch the checkpoint held."""

    def __init__(self, label: str, total_epochs: int | None, total_steps: int | None = None,
                 start_step: int = 0) -> None:
        self.label, self.total = label, total_epochs
        self.total_steps, self.start_step = total_steps, start_step
        self.t0 = self.last_line = self.last_row = time.perf_counter()
        self.first: int | None = None  # the epoch before the first one seen: >0 after a resume
        self.bar = None
        if log.isEnabledFor(logging.INFO) and _terminal_width() > 0:
            from tqdm import tqdm

            # a budget in steps counts steps (tqdm's rate and time left then hold from a resume
            # on, its `initial` where the process took up); else epochs
            by_steps = {"total": total_steps, "initial": start_step, "unit": "step", "unit_scale": True}
            self.bar = tqdm(**(by_steps if total_steps else {"total": total_epochs, "unit": "epoch"}), desc=label,
                            leave=False, file=sys.stderr, dynamic_ncols=True,
                            mininterval=0)  # a row is rare enough to draw each

    def epoch(self, row: dict) -> None:
        n = row["epoch"]
        err = f"train {row['train_error']:.2f}%" if "train_error" in row else ""
        if "eval_score" in row:  # a DQN row: the evaluation games' mean score (and the training games')
            train = row.get("train_score", math.nan)
            err = f"score {row['eval_score']:.1f}" + ("" if math.isnan(train) else f" (training games {train:.1f})")
        val = row.get("val_error", math.nan)
        val = "" if math.isnan(val) else f"  val {val:.2f}%"
        if self.bar is not None:
            step = _step_of(row)
            of_steps = f"epoch {n}  " if self.total_steps else ""
            # the row's figures first, so that the update draws them with its count
            self.bar.set_postfix_str(f"{of_steps}loss {row.get('train_loss', math.nan):.4g}  {err}{val}", refresh=False)
            self.bar.update((step if self.total_steps and step is not None else n) - self.bar.n)
            return
        if self.first is None:
            self.first = n - 1
        now = time.perf_counter()
        # an epoch's own time; else the time since the last row, unless a resume began mid-epoch
        took = row.get("seconds", math.nan if self.start_step and n - 1 == self.first else now - self.last_row)
        self.last_row = now
        if not (log.isEnabledFor(logging.DEBUG) or now - self.last_line >= QUIET_EVERY_S):
            return
        self.last_line = now
        of = f"/{self.total}" if self.total else ""
        step, left = _step_of(row), None
        if self.total_steps and step is not None:
            of += f" (step {step:,} of {self.total_steps:,})"
            if self.start_step < step < self.total_steps:
                left = (now - self.t0) / (step - self.start_step) * (self.total_steps - step)
        elif self.total and n < self.total:  # the pace of the epochs run in this process, not since epoch 0
            left = (now - self.t0) / (n - self.first) * (self.total - n)
        times = ", ".join(t for t in ("" if math.isnan(took) else f"{took:.1f} s",
                                      "" if left is None else _time_left(left)) if t)
        test = f"  test {row['test_error']:.2f}%" if "test_error" in row else ""
        log.info("    %s: epoch %d%s  %s%s%s%s", self.label, n, of, err, val, test, f"  ({times})" if times else "")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def say_done(row: dict, done: int, total: int) -> None:
    """The line a finished run prints: its place in the landmark, seed, result and time."""
    log.info("  [%d/%d] %s, seed %s: %s = %.4g (%.1f s%s)", done, total, row["claim"], row["seed"], row["metric"],
             row["value"], row["seconds"], ", resumed" if row.get("resumed") else "")
    if row.get("info.at_chance"):
        log.warning("  warning: %s, seed %s did not learn: its test error %.2f%% is at chance level. It still "
                    "counts in the mean; a smaller lr or a warm-up usually avoids this.", row["claim"], row["seed"],
                    row["metric.top1_error"])
