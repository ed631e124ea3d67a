"""Commands that read reports already built: `overview` (reports/index.html across profiles) and
`compare` (two report folders side by side); and what `report` adds to MLflow."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def attach_to_mlflow(models_dir: Path, out_dir: Path, p) -> None:
    """Each trained landmark's figure and table on its MLflow parent run, where runs were tracked."""
    from landmarks.report.summary import load_results
    from landmarks.report.to_mlflow import attach
    from landmarks.tracking import open_tracker

    docs = load_results(models_dir)[1] if models_dir.is_dir() else []
    if not p.tracking.enabled or not any(d.get("mlflow_parent_run_id") for d in docs):
        return
    tracker = open_tracker(True, p.tracking.uri)
    try:
        n = attach(tracker, docs, out_dir)
    finally:
        tracker.close()
    if n:
        log.info("report: figures and tables attached to %d MLflow parent runs", n)


def cmd_overview(args: argparse.Namespace) -> int:
    from landmarks.catalog import load_catalog
    from landmarks.report.overview import write_overview

    print(f"overview: {write_overview(Path(args.reports), load_catalog(args.catalog))}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from landmarks.report.compare import compare

    table, only = compare(Path(args.a), Path(args.b))
    print(f"A: {args.a}\nB: {args.b}\n")
    print(table.to_markdown(index=False) if not table.empty else "no claim with runs on both sides")
    for line in only:
        print(f"- {line}")
    return 0


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    """`overview` and `compare`: reading reports already built."""
    sp = sub.add_parser("overview", parents=parents, help="reports/index.html: every landmark under every profile, "
                        "with its paper linked and each claim's interval against the paper's band")
    sp.add_argument("--reports", default="reports", help="the folder of the profiles' reports (default: reports)")
    sp.set_defaults(func=cmd_overview)

    sp = sub.add_parser("compare", parents=parents, help="two report folders side by side (two machines, commits, "
                        "torch versions): each claim's result on both, and whether the runs differ")
    sp.add_argument("a", help="a report folder (reports/<profile>, or a copy from another machine)")
    sp.add_argument("b", help="the other report folder")
    sp.set_defaults(func=cmd_compare)
