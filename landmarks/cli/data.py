"""Commands about datasets: fetch, prepare, verify."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from landmarks.cli.options import params
from landmarks.data import DATASETS

log = logging.getLogger(__name__)


def _dataset_names(args: argparse.Namespace) -> list[str]:
    names = args.datasets or [n for n in DATASETS.names() if DATASETS.get(n).source == "download"]
    for n in names:
        DATASETS.get(n)  # an unknown name is refused before any work
    return names


def cmd_fetch(args: argparse.Namespace) -> int:
    from landmarks.data.fetch import FetchOptions
    from landmarks.data.prepare import fetch_dataset

    p = params(args)
    opts = FetchOptions(timeout=args.timeout, retries=args.retries)
    for name in _dataset_names(args):
        log.info("%s:", name)
        fetch_dataset(name, Path(p.data.dir), p.data.mirror, opts)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from landmarks.data.prepare import prepare_dataset

    p = params(args)
    for name in _dataset_names(args):
        m = prepare_dataset(name, Path(p.data.dir), p.data.imagenet, p.data.imagenet_subset)
        if "arrays" in m:
            shapes = ", ".join(f"{k} {tuple(v['shape'])}" for k, v in m["arrays"].items())
            print(f"{name}: {shapes}")
            print(f"  train class counts: {' '.join(map(str, m['class_counts']['train']))}")
        else:
            sp = m["splits"]
            print(f"{name}: {m['num_classes']} classes, train {sp['train']['images']:,} images, "
                  f"val {sp['val']['images']:,} images ({m['layout']}{', a subset' if m['subset'] else ''})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from landmarks.data.prepare import verify_cache

    data_dir = Path(params(args).data.dir)
    names = args.datasets or sorted(p.name for p in (data_dir / "raw").glob("*") if p.is_dir() and p.name in DATASETS)
    problems = verify_cache(names, data_dir)
    for line in problems:
        print(f"  PROBLEM {line}")
    print(f"verified {', '.join(names) or 'nothing (data/raw is empty)'}: "
          f"{'all good' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("fetch", parents=parents,
                        help="download and verify datasets into data/raw/ (all downloadable ones by default)")
    sp.add_argument("datasets", nargs="*")
    sp.add_argument("--timeout", type=float, default=20.0, help="seconds to connect and between bytes (default 20)")
    sp.add_argument("--retries", type=int, default=3, help="tries per URL for transient failures (default 3)")
    sp.set_defaults(func=cmd_fetch)

    sp = sub.add_parser("prepare", parents=parents, help="decode fetched datasets into data/prepared/")
    sp.add_argument("datasets", nargs="*")
    sp.set_defaults(func=cmd_prepare)

    sp = sub.add_parser("verify", parents=parents, help="re-hash the cached datasets and say what is wrong")
    sp.add_argument("datasets", nargs="*")
    sp.set_defaults(func=cmd_verify)
