"""The `landmarks` command: a thin layer over the package's functions.

    landmarks list [--profile P]                  # the catalog (needs neither torch nor MLflow)
    landmarks check                               # the catalog against the registries of code
    landmarks schema [--out FILE]                 # JSON Schema of a landmark file, for editors
    landmarks train LANDMARK [--profile P]        # one DVC train stage
    landmarks report [--profile P]                # the DVC report stage
    landmarks run [LANDMARK ...] [--profile P]    # train + report without DVC
    landmarks status [--profile P]                # training begun and not finished; how to resume it
    landmarks use PROFILE                         # params.yaml lists for `dvc repro`
    landmarks plan [--profile P] [--budget 8h]    # the time a profile takes here, claim by claim
    landmarks fetch|prepare|verify [DATASET ...]  # data/raw, data/prepared
    landmarks sync [JOURNAL ...]                  # send records kept while MLflow was down
    landmarks bench epoch|step|procs|loader       # speed beside a baseline
    landmarks ui                                  # MLflow UI on 127.0.0.1

Messages go through `logging` to stderr, set up here once: `-v` adds a line per epoch, `-q`
keeps warnings and errors only. What a command produces (a listing, a table, a path) goes to stdout.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from pathlib import Path

from landmarks.errors import LandmarksError
from landmarks.files import out_of_space


class _Stderr(logging.StreamHandler):
    """A handler that writes to whatever sys.stderr is at the time (pytest swaps it per test)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(verbosity: int) -> None:
    """-q: warnings and errors; default: a line per run; -v: a line per epoch too."""
    level = logging.DEBUG if verbosity > 0 else logging.INFO if verbosity == 0 else logging.WARNING
    logger = logging.getLogger("landmarks")
    for h in list(logger.handlers):
        logger.removeHandler(h)
    handler = _Stderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(level)


def build_parser() -> argparse.ArgumentParser:
    from landmarks.bench.cli import add_parser as add_bench
    from landmarks.cli import catalog, data, plan, reports, runs, status

    # -v and -q are accepted before or after the command name
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="more output: a line per epoch")
    common.add_argument("-q", "--quiet", action="count", default=argparse.SUPPRESS,
                        help="less output: warnings and errors only")
    p = argparse.ArgumentParser(prog="landmarks", parents=[common],
                                description="Landmark deep-learning results, re-run and checked.")
    p.add_argument("--catalog", default="benchmarks", help="folder of landmark YAML files (default: benchmarks)")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    for module in (catalog, runs, status, data, plan, reports):
        module.add_parsers(sub, [common])
    add_bench(sub, [common])
    return p


def _suggest(argv: list[str], parser: argparse.ArgumentParser) -> None:
    """An unknown command gets the closest known one ("trian" -> "did you mean 'train'?")."""
    import difflib

    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    words, skip = [], False
    for w in argv:  # the command is the first word that is neither an option nor an option's value
        if skip or w.startswith("-"):
            skip = w in ("--catalog", "--params")
            continue
        words.append(w)
        break
    if words and words[0] not in commands:
        close = difflib.get_close_matches(words[0], list(commands), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; commands: {', '.join(commands)}"
        parser.error(f"unknown command '{words[0]}'{hint}")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    _suggest(argv, parser)
    args = parser.parse_args(argv)
    args.argv = list(argv)  # as typed: `train --nproc-per-node` hands it on to torchrun
    setup_logging(getattr(args, "verbose", 0) - getattr(args, "quiet", 0))
    try:
        return args.func(args)
    except LandmarksError as exc:
        print(f"landmarks: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("landmarks: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `landmarks list | head`: the reader has gone, nothing to say
        # (before OSError, its parent class); stdout pointed at /dev/null so the exit's flush is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # storage that failed under a write no code path expected to fail
        problem = out_of_space(exc, Path(exc.filename or "."))
        if problem is None and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and exc.filename:
            problem = f"cannot write {exc.filename} ({exc.strerror}): make it writable and run again"
        if problem is None:
            raise
        print(f"landmarks: error: {problem}", file=sys.stderr)
        return 4

