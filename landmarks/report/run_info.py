"""A report's runs in two files: `results.csv`, what the runs found (tracked, and the same bytes
whenever the same code gives the same numbers), and `run-info.csv` beside it, what changes at every
run: times, MLflow run ids, HEAD when each ran. `landmarks plan` reads the times
from it; `landmarks report --from-results` joins it back in where it is there.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from landmarks.files import write_atomic
from landmarks.run_files import VOLATILE

RUN_INFO_CSV = "run-info.csv"
KEYS = ["landmark", "claim", "seed"]
RUN_INFO_NOTE = ("Times, MLflow run ids and the commit each run started at are in `run-info.csv` beside this "
                 "file: they change at every run, so `results.csv` leaves them out; the commit named below is "
                 "that of the code the runs ran.")


def write_results(results: pd.DataFrame, out_dir: Path) -> None:
    """results.csv without the volatile columns, and run-info.csv with them. A run recorded before
    the code's commit was kept apart names HEAD when it ran: that stays as its code_commit."""
    if "git_commit" in results:
        known = results["code_commit"] if "code_commit" in results else pd.Series(index=results.index, dtype=object)
        results = results.assign(code_commit=known.fillna(results["git_commit"]))
    volatile = [c for c in VOLATILE if c in results]
    write_atomic(out_dir / "results.csv", results.drop(columns=volatile).to_csv(index=False))
    if volatile and all(k in results for k in KEYS):
        write_atomic(out_dir / RUN_INFO_CSV, results[KEYS + volatile].to_csv(index=False))


def with_run_info(results: pd.DataFrame, results_csv: Path) -> pd.DataFrame:
    """`results` (read from `results_csv`) with the run-info.csv beside it joined in, where there is
    one and results.csv does not hold those columns itself (files written before they moved)."""
    path = results_csv.parent / RUN_INFO_CSV
    if not path.exists() or "seconds" in results or not all(k in results for k in KEYS):
        return results
    try:
        info = pd.read_csv(path)
    except (OSError, ValueError):
        return results
    if not all(k in info for k in KEYS):
        return results
    info = info.drop_duplicates(KEYS)
    keep = [c for c in info.columns if c in KEYS or c not in results]
    return results.merge(info[keep], on=KEYS, how="left")
