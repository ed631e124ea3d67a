"""Whether two results folders hold the same numbers: every run's metrics and details, every
history row and every weights file, compared exactly. Times, commits and run ids are left out
(they differ between any two runs); everything else must be equal, bit for bit.

    python scripts/compare_runs.py BEFORE/models/quick AFTER/models/quick > comparison.md

Prints a Markdown report and exits 1 when anything differs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import torch

# what two runs of the same code on the same machine never share
VOLATILE = ("seconds", "info.train_seconds", "git_commit", "mlflow_run_id", "machine")


def _runs(folder: Path) -> dict[tuple[str, str, int], dict]:
    doc = json.loads((folder / "metrics.json").read_text())
    return {(doc["landmark"], r["claim"], r["seed"]): {k: v for k, v in r.items() if k not in VOLATILE}
            for r in doc["runs"]}


def _differences(a: Path, b: Path) -> tuple[list[str], dict[str, int]]:
    diffs, counted = [], {"runs": 0, "values": 0, "history rows": 0, "weights tensors": 0}
    ra, rb = _runs(a), _runs(b)
    if ra.keys() != rb.keys():
        diffs.append(f"{a.name}: runs differ: {sorted(set(ra) ^ set(rb))}")
    for key in sorted(ra.keys() & rb.keys()):
        counted["runs"] += 1
        for field in sorted(ra[key].keys() | rb[key].keys()):
            counted["values"] += 1
            if ra[key].get(field) != rb[key].get(field):
                diffs.append(f"{key}: {field}: {ra[key].get(field)!r} vs {rb[key].get(field)!r}")
    ha, hb = (pd.read_csv(f / "history.csv").drop(columns=["seconds"], errors="ignore") for f in (a, b))
    counted["history rows"] = len(ha)
    if not ha.equals(hb):
        changed = [c for c in ha.columns if c not in hb or not ha[c].equals(hb[c])]
        diffs.append(f"{a.name}: history.csv differs in columns {changed}")
    for wa in sorted((a / "weights").glob("*.pt")):
        wb = b / "weights" / wa.name
        if not wb.exists():
            diffs.append(f"{wa.name}: missing in {b}")
            continue
        sa, sb = (torch.load(w, map_location="cpu", weights_only=True) for w in (wa, wb))
        for name in sa.keys() | sb.keys():
            counted["weights tensors"] += 1
            if name not in sa or name not in sb or not torch.equal(sa[name], sb[name]):
                diffs.append(f"{wa.name}: {name} differs")
    return diffs, counted


def main(before: str, after: str) -> int:
    a_root, b_root = Path(before), Path(after)
    lines = [f"# {a_root} vs {b_root}", "", "| landmark | runs | values | history rows | weights tensors | differences |",
             "|---|---|---|---|---|---|"]
    details = []
    for a in sorted(p for p in a_root.iterdir() if (p / "metrics.json").exists()):
        diffs, counted = _differences(a, b_root / a.name)
        lines.append(f"| {a.name} | " + " | ".join(str(v) for v in counted.values()) + f" | {len(diffs)} |")
        details += diffs
    lines += ["", "Left out of the comparison: " + ", ".join(VOLATILE) + " (and history's seconds)."]
    lines += ["", "Differences:" if details else "No differences."] + [f"- {d}" for d in details]
    print("\n".join(lines))
    return 1 if details else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
