"""Benchmark tables saved with the machine's name: reports/bench/<kind>-<machine>.{md,csv}."""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path

import pandas as pd
import torch

from landmarks.files import write_atomic
from landmarks.provenance import cpu_name, git_state, machine_label


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def save(kind: str, table: pd.DataFrame, device: torch.device, out_dir: Path, notes: str = "") -> Path:
    machine = machine_label(device)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    name = f"{kind}-{_slug(machine)}"
    threads = torch.get_num_threads()
    cpu = f" ({cpu_name()}, {threads} thread{'s' if threads != 1 else ''})" if device.type == "cpu" else ""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    # other work on the machine slows every figure: the load says how much there was
    header = (f"# `landmarks bench {kind}` on {machine}{cpu}\n\n"
              f"Measured {stamp}; torch {torch.__version__}; commit `{git_state()['git_commit'][:12]}`; "
              f"load average {load:.2f} on {os.cpu_count()} cores when it was saved.\n\n")
    write_atomic(out_dir / f"{name}.md", header + table.to_markdown(index=False) + "\n" + (f"\n{notes}\n" if notes else ""))
    write_atomic(out_dir / f"{name}.csv", table.assign(machine=machine, measured=stamp).to_csv(index=False))
    return out_dir / f"{name}.md"
