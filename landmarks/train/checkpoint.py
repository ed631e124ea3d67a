"""Checkpoints that survive: full training state, written atomically, loaded without pickle; and
the results of runs already finished (`FinishedRuns`), so a re-run never trains them again.

A checkpoint holds the model, optimizer, LR scheduler, every RNG state (Python,
NumPy, torch CPU and CUDA, the data-order generator), the step, the epoch and the position inside
it, the history so far, and the identity of the run (resolved recipe, model, seed, data hash,
code version). It is written to a temporary name, flushed to disk and renamed, so the previous
checkpoint stays valid if the process dies mid-write; it is read with
`torch.load(weights_only=True)`, which runs no pickled code.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landmarks.errors import ConfigError
from landmarks.files import atomic_open

FORMAT = 1
log = logging.getLogger(__name__)


def rng_state(generator: torch.Generator) -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss)),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data_order": generator.get_state(),
    }


def set_rng_state(state: dict, generator: torch.Generator) -> None:
    random.setstate(_tuples(state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    generator.set_state(state["data_order"])


def _tuples(x: Any) -> Any:
    # random.setstate wants tuples all the way down; a round trip may give lists
    return tuple(_tuples(v) for v in x) if isinstance(x, (list, tuple)) else x


def first_difference(saved: dict, current: dict) -> str | None:
    for key in sorted(set(saved) | set(current)):
        if saved.get(key) != current.get(key):
            return f"{key}: checkpoint has {saved.get(key)!r}, this run has {current.get(key)!r}"
    return None


class Checkpointer:
    """Where one run's checkpoint lives and when the next one is due."""

    def __init__(self, path: Path, identity: dict, every_steps: int = 0, every_seconds: float = 0.0) -> None:
        self.path = path
        self.identity = identity  # flat {field: value}; compared on resume
        self.every_steps = every_steps
        self.every_seconds = every_seconds
        self.extra: dict = {}  # the runner's own fields (MLflow run id)
        self._last_step = 0
        self._last_time = time.monotonic()
        self.saves = 0
        # the run's time in the processes before this one, up to their last checkpoint: a resumed
        # run's total is that plus this process's time (what ran after the last save is lost)
        self.seconds_before = 0.0
        self._started = time.monotonic()
        # (step, seconds) at the last saves: the pace of the latest stretch, which `landmarks
        # status` gives the time left by (a DQN's first 50,000 steps, without updates, run far faster)
        self.marks: list[tuple[int, float]] = []

    def seconds(self) -> float:
        """The run's time so far, over every process that trained it."""
        return self.seconds_before + time.monotonic() - self._started

    def due(self, step: int) -> bool:
        if self.every_steps and step - self._last_step >= self.every_steps:
            return True
        return bool(self.every_seconds) and time.monotonic() - self._last_time >= self.every_seconds

    def save(self, payload: dict, step: int) -> None:
        seconds = self.seconds()
        self.marks = [*self.marks, (step, seconds)][-2:]
        payload = {"format": FORMAT, "identity": self.identity,
                   "extra": {**self.extra, "seconds": seconds, "marks": [list(m) for m in self.marks]}, **payload}
        with atomic_open(self.path, binary=True) as f:
            torch.save(payload, f)
        self._last_step, self._last_time = step, time.monotonic()
        self.saves += 1

    def load(self, strict: bool) -> dict | None:
        """The saved payload, or None when there is none (or, unless strict, when it belongs to
        another recipe: it is then set aside and the run starts over)."""
        if not self.path.exists():
            return None
        payload = torch.load(self.path, map_location="cpu", weights_only=True)
        diff = first_difference(payload.get("identity", {}), self.identity)
        if diff is None and payload.get("format") == FORMAT:
            self._last_step = payload["state"]["step"]
            self.seconds_before = float(payload.get("extra", {}).get("seconds", 0.0))
            self.marks = [(int(a), float(b)) for a, b in payload.get("extra", {}).get("marks", [])]
            self._started = time.monotonic()
            return payload
        why = diff or f"checkpoint format {payload.get('format')}, expected {FORMAT}"
        if strict:
            raise ConfigError(f"{self.path}: cannot resume, the run differs ({why}); delete the checkpoint to start over")
        stale = self.path.with_name(self.path.name + ".stale")
        os.replace(self.path, stale)
        log.warning("  checkpoint %s is from another run (%s); moved to %s, starting over", self.path.name, why, stale.name)
        return None


class FinishedRuns:
    """The results of runs that finished while their landmark did not, kept beside the
    checkpoints: a re-run of the landmark takes them instead of training again.

    `<folder>/<key>.result.json` holds the run's identity, its row and history;
    `<folder>/<key>.weights.pt` its final weights. The folder goes once the landmark is complete.
    Where `kept` is given, each result is also written to `<kept>/<key>.json` and stays there: a
    small file meant to be committed, so that a fresh clone of the project (a machine lost, a
    colleague's checkout) takes finished runs of a long profile instead of training them again.
    """

    def __init__(self, folder: Path, kept: Path | None = None) -> None:
        self.folder = folder
        self.kept = kept

    def _result(self, key: str) -> Path:
        return self.folder / f"{key}.result.json"

    def weights(self, key: str) -> Path:
        return self.folder / f"{key}.weights.pt"

    def get(self, key: str, identity: dict) -> dict | None:
        """{"row", "history", "from"} of a finished run with this identity, or None."""
        for path in (self._result(key), *([self.kept / f"{key}.json"] if self.kept else [])):
            if not path.exists():
                continue
            try:
                done = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: a finished run's record that cannot be read ({exc}); "
                                  f"delete it to train that run again") from exc
            if done.get("identity") == identity:
                return {**done, "from": path}
        return None

    def put(self, key: str, identity: dict, row: dict, history: list[dict], state_dict: dict | None) -> None:
        if state_dict is not None:
            with atomic_open(self.weights(key), binary=True) as f:
                torch.save(state_dict, f)
        text = json.dumps({"identity": identity, "row": row, "history": history}, default=str)
        with atomic_open(self._result(key)) as f:
            f.write(text)
        if self.kept is not None:  # indented, one field a line: a reviewable file in a commit
            with atomic_open(self.kept / f"{key}.json") as f:
                f.write(json.dumps({"identity": identity, "row": row, "history": history}, default=str,
                                   indent=1) + "\n")

    def copy_weights(self, key: str, out_dir: Path) -> None:
        """The run's weights into `out_dir/weights/<key>.pt`, when it has any."""
        if self.weights(key).exists():
            with open(self.weights(key), "rb") as src, atomic_open(out_dir / "weights" / f"{key}.pt", binary=True) as dst:
                shutil.copyfileobj(src, dst)

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
