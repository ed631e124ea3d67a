"""The `landmarks` command: a thin layer over the package's functions.

    landmarks list [--profile P]
    landmarks train LANDMARK [--profile P]        # one DVC train stage
    landmarks report [--profile P]                # the DVC report stage
    landmarks run [LANDMARK ...] [--profile P]    # train + report without DVC
    landmarks use PROFILE                         # params.yaml lists for `dvc repro`
    landmarks fetch|prepare|verify [DATASET ...]  # data/raw, data/prepared
    landmarks sync [JOURNAL ...]                  # send records kept while MLflow was down
    landmarks bench epoch|step                    # speed beside a baseline
    landmarks ui                                  # MLflow UI on 127.0.0.1
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from landmarks.errors import LandmarksError


def _params(args: argparse.Namespace):
    from landmarks.config import load_params

    return load_params(args.params)


def _profile(args: argparse.Namespace) -> str:
    from landmarks.catalog import PROFILES
    from landmarks.errors import ConfigError

    profile = args.profile or _params(args).profile
    if profile not in PROFILES:
        raise ConfigError(f"--profile: unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    return profile


def cmd_list(args: argparse.Namespace) -> int:
    from landmarks.catalog import load_catalog

    catalog = load_catalog(args.catalog)
    for lm in catalog.values():
        if args.profile and args.profile not in lm.profiles:
            continue
        if args.ids:
            print(lm.id)
            continue
        print(f"{lm.id}: {lm.title}")
        print(f"  task {lm.task}, dataset {lm.dataset or '(generated)'}, metric {lm.metric}")
        for name, prof in lm.profiles.items():
            tag = ", reduced budget" if prof.reduced_budget else ""
            print(f"  profile {name}: {len(lm.claims_for(name))} claims x {len(prof.seeds)} seeds{tag}")
        for c in lm.claims:
            paper = "-" if c.paper is None else f"{c.paper:g}"
            print(f"    claim {c.name!r}: model {c.model}, paper {paper} ({c.source})")
        for o in lm.orderings:
            print(f"    ordering: {' -> '.join(o.claims)} (worst to best)")
    return 0


def _train(landmark_id: str, profile: str, args: argparse.Namespace) -> None:
    from landmarks.catalog import get_landmark, load_catalog
    from landmarks.runner import CheckpointPolicy, train_landmark
    from landmarks.tracking import open_tracker
    from landmarks.train.seeding import resolve_device, set_deterministic

    params = _params(args)
    lm = get_landmark(load_catalog(args.catalog), landmark_id)
    lm.profile(profile)  # refuse an unknown profile before anything starts
    device = resolve_device(args.device or params.train.device)
    deterministic = args.deterministic or params.train.deterministic
    set_deterministic(deterministic)
    tracker = open_tracker(params.tracking.enabled and not args.no_tracking, params.tracking.uri)
    out = Path(args.models) / profile / lm.id
    ck = params.train.checkpoint
    resume = "always" if args.resume else "never" if args.restart else ck.resume
    policy = CheckpointPolicy(Path(ck.dir), args.checkpoint_every_steps or ck.every_steps, ck.every_seconds, resume)
    claims = tuple(c.strip() for c in (getattr(args, "claims", None) or "").split(",") if c.strip())
    seeds = tuple(int(s) for s in (getattr(args, "seeds", None) or "").split(",") if s.strip())
    train_landmark(lm, profile, out, device, tracker, Path(params.data.dir), params.data.mirror,
                   deterministic, verbose=args.verbose or params.train.verbose, checkpoints=policy,
                   only_claims=claims, only_seeds=seeds)


def cmd_train(args: argparse.Namespace) -> int:
    _train(args.landmark, _profile(args), args)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from landmarks.catalog import load_catalog
    from landmarks.report.build import build_report

    profile = _profile(args)
    out = build_report(profile, Path(args.models) / profile, Path(args.reports) / profile, load_catalog(args.catalog))
    print(f"report: {out}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from landmarks.catalog import load_catalog

    profile = _profile(args)
    catalog = load_catalog(args.catalog)
    ids = args.landmarks or [i for i, lm in catalog.items() if profile in lm.profiles]
    for landmark_id in ids:
        _train(landmark_id, profile, args)
    return cmd_report(args)


def cmd_use(args: argparse.Namespace) -> int:
    from landmarks.catalog import load_catalog
    from landmarks.config import use_profile

    lists = use_profile(Path(args.params), load_catalog(args.catalog), args.profile)
    n = len(lists["landmarks"]) + len(lists["generated"])
    print(f"{args.params}: profile {args.profile}, {n} landmarks, datasets {', '.join(lists['datasets']) or 'none'}; now run `dvc repro`")
    return 0


def _dataset_names(args: argparse.Namespace) -> list[str]:
    from landmarks.data import DATASETS

    names = args.datasets or [n for n in DATASETS.names() if DATASETS.get(n).source == "download"]
    for n in names:
        DATASETS.get(n)  # an unknown name is refused before any work
    return names


def cmd_fetch(args: argparse.Namespace) -> int:
    from landmarks.data.fetch import FetchOptions
    from landmarks.data.prepare import fetch_dataset

    params = _params(args)
    opts = FetchOptions(timeout=args.timeout, retries=args.retries)
    for name in _dataset_names(args):
        print(f"{name}:", file=sys.stderr)
        fetch_dataset(name, Path(params.data.dir), params.data.mirror, opts)
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from landmarks.data.prepare import prepare_dataset

    params = _params(args)
    for name in _dataset_names(args):
        m = prepare_dataset(name, Path(params.data.dir), params.data.imagenet)
        if "arrays" in m:
            shapes = ", ".join(f"{k} {tuple(v['shape'])}" for k, v in m["arrays"].items())
            print(f"{name}: {shapes}")
            print(f"  train class counts: {' '.join(map(str, m['class_counts']['train']))}")
        else:
            sp = m["splits"]
            print(f"{name}: {m['num_classes']} classes, train {sp['train']['images']} images, val {sp['val']['images']} images")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from landmarks.data.prepare import verify_cache

    params = _params(args)
    data_dir = Path(params.data.dir)
    from landmarks.data import DATASETS

    names = args.datasets or sorted(p.name for p in (data_dir / "raw").glob("*") if p.is_dir() and p.name in DATASETS)
    problems = verify_cache(names, data_dir)
    for line in problems:
        print(f"  PROBLEM {line}")
    print(f"verified {', '.join(names) or 'nothing (data/raw is empty)'}: "
          f"{'all good' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def cmd_sync(args: argparse.Namespace) -> int:
    from landmarks.tracking import sync

    journals = args.journals or sorted(str(p) for p in Path("tracking-pending").glob("*.jsonl"))
    if not journals:
        print("nothing to sync: no journals in tracking-pending/")
        return 0
    for j in journals:
        sync(Path(j), args.uri)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from landmarks.tracking import resolve_uri

    uri = resolve_uri(_params(args).tracking.uri)
    cmd = ["mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(args.port)]
    print(f"MLflow UI for {uri} at http://127.0.0.1:{args.port} (Ctrl-C stops it)")
    os.execvp(cmd[0], cmd)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="landmarks", description="Landmark deep-learning results, re-run and checked.")
    p.add_argument("--catalog", default="benchmarks", help="folder of landmark YAML files (default: benchmarks)")
    p.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True)

    def with_profile(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--profile", help="quick | classic | paper | imagenet (default: params.yaml's)")

    def with_dirs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--models", default="models", help="where runs are written (default: models)")
        sp.add_argument("--reports", default="reports", help="where reports are written (default: reports)")

    def with_training(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: params.yaml's)")
        sp.add_argument("--deterministic", action="store_true", help="bit-for-bit repeatable runs")
        sp.add_argument("--no-tracking", action="store_true", help="do not record runs in MLflow")
        sp.add_argument("-v", "--verbose", action="store_true", help="one line per epoch")
        group = sp.add_mutually_exclusive_group()
        group.add_argument("--resume", action="store_true",
                           help="continue from the checkpoints; refuse if the recipe, model or data changed")
        group.add_argument("--restart", action="store_true", help="ignore checkpoints and start over")
        sp.add_argument("--checkpoint-every-steps", type=int, default=0, metavar="N",
                        help="checkpoint every N optimizer steps (default: params.yaml's, by time)")

    sp = sub.add_parser("list", help="list landmarks, claims and profiles")
    sp.add_argument("--profile", help="only landmarks that have this profile")
    sp.add_argument("--ids", action="store_true", help="print only the ids")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("train", help="run every claim and seed of one landmark")
    sp.add_argument("landmark")
    sp.add_argument("--claims", help="only these claims (comma-separated names); the run is marked a subset")
    sp.add_argument("--seeds", help="only these seeds (comma-separated); the run is marked a subset")
    with_profile(sp), with_dirs(sp), with_training(sp)
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("report", help="build reports/<profile>/ from the runs")
    with_profile(sp), with_dirs(sp)
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("run", help="train landmarks (all of the profile by default), then report")
    sp.add_argument("landmarks", nargs="*")
    with_profile(sp), with_dirs(sp), with_training(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("use", help="point params.yaml (and so `dvc repro`) at a profile")
    sp.add_argument("profile")
    sp.set_defaults(func=cmd_use)

    sp = sub.add_parser("fetch", help="download and verify datasets into data/raw/ (all downloadable ones by default)")
    sp.add_argument("datasets", nargs="*")
    sp.add_argument("--timeout", type=float, default=20.0, help="seconds to connect and between bytes (default 20)")
    sp.add_argument("--retries", type=int, default=3, help="tries per URL for transient failures (default 3)")
    sp.set_defaults(func=cmd_fetch)

    sp = sub.add_parser("prepare", help="decode fetched datasets into data/prepared/")
    sp.add_argument("datasets", nargs="*")
    sp.set_defaults(func=cmd_prepare)

    sp = sub.add_parser("verify", help="re-hash the cached datasets and say what is wrong")
    sp.add_argument("datasets", nargs="*")
    sp.set_defaults(func=cmd_verify)

    sp = sub.add_parser("sync", help="send tracking records kept while MLflow was unreachable")
    sp.add_argument("journals", nargs="*", help="journal files (default: all in tracking-pending/)")
    sp.add_argument("--uri", help="tracking URI to send to (default: the one the journal was meant for)")
    sp.set_defaults(func=cmd_sync)

    from landmarks.bench.cli import add_parser as add_bench

    add_bench(sub)

    sp = sub.add_parser("ui", help="open the MLflow UI on 127.0.0.1")
    sp.add_argument("--port", type=int, default=5000)
    sp.set_defaults(func=cmd_ui)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LandmarksError as exc:
        print(f"landmarks: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("landmarks: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
