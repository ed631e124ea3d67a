"""Commands that train and report: train, run, report, sync, ui."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import socket
import sys
from pathlib import Path

from landmarks.cli.options import checked, params, profile, with_profile
from landmarks.catalog import Landmark, get_landmark
from landmarks.errors import ConfigError
from landmarks.lock import COMMAND_ENV, invocation

log = logging.getLogger(__name__)


def _train(lm: Landmark, profile_name: str, args: argparse.Namespace) -> None:
    """Train one landmark of a catalog the caller has checked."""
    from landmarks.report.tables import parent_verdicts
    from landmarks.runner import TrainJob, train_landmark
    from landmarks.tracking import open_tracker
    from landmarks.train.distributed import init_process_group, world_from_env
    from landmarks.train.seeding import resolve_device, set_deterministic

    p = params(args)
    lm.profile(profile_name)  # refuse an unknown profile or claim before anything starts
    claims = _chosen_claims(lm, args)
    world = world_from_env()  # several processes when torchrun started this one
    if p.train.verbose and not getattr(args, "quiet", 0) and world.writer:
        logging.getLogger("landmarks").setLevel(logging.DEBUG)
    if not world.writer:  # one voice: rank 0 reports progress for the job
        logging.getLogger("landmarks").setLevel(logging.WARNING)
    device = init_process_group(world, resolve_device(args.device or p.train.device))
    deterministic = args.deterministic or p.train.deterministic
    set_deterministic(deterministic)
    tracker = open_tracker(p.tracking.enabled and not args.no_tracking and world.writer, p.tracking.uri)
    policy = p.train.checkpoint
    updates = {"resume": "always" if args.resume else "never" if args.restart else policy.resume}
    if args.checkpoint_every_steps:
        updates["every_steps"] = args.checkpoint_every_steps
    job = TrainJob(landmark=lm, profile=profile_name, out_dir=Path(args.models) / profile_name / lm.id,
                   device=device, data_dir=Path(p.data.dir), mirror=p.data.mirror, deterministic=deterministic,
                   checkpoints=policy.model_copy(update=updates), only_claims=claims,
                   only_seeds=tuple(getattr(args, "seeds", None) or ()), world=world)
    train_landmark(job, tracker, parent_verdicts)


def _chosen_claims(lm: Landmark, args: argparse.Namespace) -> tuple[str, ...]:
    """--claims (comma-separated) and --claim (one whole name, repeatable), each checked."""
    split, whole = getattr(args, "claims", None) or [], getattr(args, "claim", None) or []
    known = [c.name for c in lm.claims]
    for option, names in (("--claims", split), ("--claim", whole)):
        for name in names:
            if name in known:
                continue
            whole_name = next((k for k in known if "," in k and name in k), None)
            hint = (f"; --claims splits on commas: give a name that has commas whole with --claim, as in "
                    f"--claim {whole_name!r}" if option == "--claims" and whole_name else "")
            raise ConfigError(f"{option}: {lm.path} has no claim named {name!r}{hint} (its claims: "
                              f"{', '.join(map(repr, known))})")
    return tuple(dict.fromkeys([*split, *whole]))  # each once, in the order given


def cmd_train(args: argparse.Namespace) -> int:
    lm = get_landmark(checked(args, ids=[args.landmark]), args.landmark)
    name = profile(args)
    _chosen_claims(lm, args)
    if "WORLD_SIZE" not in os.environ:  # not yet under torchrun: start it when asked to
        args.nproc_per_node = args.nproc_per_node or params(args).train.processes
        if args.nproc_per_node > 1 or args.nnodes > 1:
            return _torchrun(args)
    _train(lm, name, args)
    return 0


# the options that start torchrun: they go to torchrun, the rest to `landmarks train` in each process
_LAUNCH = ("--nproc-per-node", "--nnodes", "--node-rank", "--rdzv-endpoint", "--max-restarts")


def _torchrun(args: argparse.Namespace) -> int:
    """`landmarks train ... --nproc-per-node N`: the same command under torchrun, N processes per
    node (and --nnodes nodes meeting at --rdzv-endpoint with the c10d rendezvous)."""
    import subprocess
    import sys

    argv, skip = [], False
    for word in args.argv:
        if skip:
            skip = False
            continue
        name = word.split("=", 1)[0]
        if name in _LAUNCH:
            skip = "=" not in word
            continue
        argv.append(word)
    launch = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={args.nproc_per_node}",
              f"--nnodes={args.nnodes}", f"--max-restarts={args.max_restarts}"]
    if args.nnodes > 1 or args.rdzv_endpoint:
        launch += ["--rdzv-backend=c10d", f"--rdzv-endpoint={args.rdzv_endpoint or '127.0.0.1:29400'}",
                   f"--rdzv-id={args.landmark}"]
        if args.node_rank is not None:
            launch.append(f"--node-rank={args.node_rank}")
    else:
        launch.append("--standalone")
    log.info("starting %d processes per node with torchrun", args.nproc_per_node)
    # the command typed, not each process's `-m landmarks ...`: what `landmarks status` offers to resume with
    env = {**os.environ, COMMAND_ENV: invocation()}
    return subprocess.call([*launch, "-m", "landmarks", *argv], env=env)


def cmd_report(args: argparse.Namespace, catalog: dict[str, Landmark] | None = None) -> int:
    from landmarks.report.build import build_report

    name = profile(args)
    catalog = catalog if catalog is not None else checked(args, name)
    source = getattr(args, "from_results", None)
    p = params(args)
    out = build_report(name, Path(args.models) / name, Path(args.reports) / name, catalog,
                       Path(source) if source else None, Path(p.train.checkpoint.keep_dir), Path(p.data.dir))
    print(f"report: {out}")
    from landmarks.cli.reports import attach_to_mlflow

    attach_to_mlflow(Path(args.models) / name, Path(args.reports) / name, p)
    return 0



def cmd_run(args: argparse.Namespace) -> int:
    name = profile(args)
    catalog = checked(args, name)  # every landmark the report covers, once
    for landmark_id in args.landmarks or [i for i, lm in catalog.items() if name in lm.profiles]:
        _train(get_landmark(catalog, landmark_id), name, args)
    return cmd_report(args, catalog)


def cmd_sync(args: argparse.Namespace) -> int:
    from landmarks.tracking.sync import sync

    journals = args.journals or sorted(str(p) for p in Path("tracking-pending").glob("*.jsonl"))
    if not journals:
        print("nothing to sync: no journals in tracking-pending/")
        return 0
    for j in journals:
        sync(Path(j), args.uri)
    return 0


def experiments_url(port: int, host: str = "127.0.0.1") -> str:
    """The MLflow UI's experiments in its model-training view: MLflow 3 opens on its GenAI view
    (traces, "No data") unless the link asks for the other (the UI then remembers the choice)."""
    return f"http://{host}:{port}/#/experiments?workflowType=machine_learning"


def cmd_ui(args: argparse.Namespace) -> int:
    from landmarks.tracking import resolve_uri

    uri = resolve_uri(params(args).tracking.uri)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", args.port))
        except OSError:
            log.error("port %d on 127.0.0.1 is in use (another MLflow UI?); choose another with --port, "
                      "e.g. `landmarks ui --port %d`", args.port, args.port + 1)
            return 2
    # MLflow through this interpreter, not an `mlflow` looked up on PATH: `.venv/bin/landmarks ui`
    # runs with the venv inactive, its bin folder off PATH, and the UI is the same MLflow that
    # wrote the runs
    if importlib.util.find_spec("mlflow") is None:
        log.error("MLflow is not installed in %s; install the project (`make install`)", sys.prefix)
        return 2
    # one worker: the UI serves one reader; MLflow's default of 4 is heavy on a laptop
    cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port",
           str(args.port), "--workers", "1"]
    print(f"MLflow UI for {uri} at http://127.0.0.1:{args.port} (Ctrl-C stops it). The landmark runs, in its "
          f"model-training view: {experiments_url(args.port)}", flush=True)
    os.execv(cmd[0], cmd)
    return 0


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {port}")
    return port


def _names(text: str) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()]


def _ints(text: str) -> list[int]:
    try:
        return [int(s) for s in _names(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    def with_dirs(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--models", default="models", help="where runs are written (default: models)")
        sp.add_argument("--reports", default="reports", help="where reports are written (default: reports)")

    def with_training(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--device", help="auto | cpu | cuda | cuda:N (default: params.yaml's)")
        sp.add_argument("--deterministic", action="store_true", help="bit-for-bit repeatable runs")
        sp.add_argument("--no-tracking", action="store_true", help="do not record runs in MLflow")
        group = sp.add_mutually_exclusive_group()
        group.add_argument("--resume", action="store_true",
                           help="continue from the checkpoints; refuse if the recipe, model or data changed")
        group.add_argument("--restart", action="store_true", help="ignore checkpoints and start over")
        sp.add_argument("--checkpoint-every-steps", type=int, default=0, metavar="N",
                        help="checkpoint every N optimizer steps (default: params.yaml's, by time)")

    sp = sub.add_parser("train", parents=parents, help="run every claim and seed of one landmark")
    sp.add_argument("landmark")
    sp.add_argument("--claims", type=_names, help="only these claims (comma-separated names); the run is marked a subset")
    sp.add_argument("--claim", action="append", metavar="NAME",
                    help="only this claim, its name given whole (commas and spaces included: --claim '2-layer NN, "
                         "300 HU, MSE'); repeat for several; the run is marked a subset")
    sp.add_argument("--seeds", type=_ints, help="only these seeds (comma-separated); the run is marked a subset")
    with_profile(sp), with_dirs(sp), with_training(sp)
    launch = sp.add_argument_group("several processes (torchrun; or start `torchrun -m landmarks train ...` yourself)")
    launch.add_argument("--nproc-per-node", type=_count, default=0, metavar="N",
                        help="processes on this node, one per GPU (CPU: gloo); recipes with parallel: data")
    launch.add_argument("--nnodes", type=_count, default=1, metavar="M", help="nodes in the job (default: 1)")
    launch.add_argument("--node-rank", type=int, metavar="R", help="this node's rank, 0 to M-1")
    launch.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="where the nodes meet (c10d rendezvous)")
    launch.add_argument("--max-restarts", type=int, default=0, metavar="K",
                        help="restart the processes up to K times after a failure; each restart resumes")
    sp.set_defaults(func=cmd_train)

    sp = sub.add_parser("report", parents=parents, help="build reports/<profile>/ from the runs")
    with_profile(sp), with_dirs(sp)
    sp.add_argument("--from-results", metavar="CSV", help="rebuild from a report's committed results.csv "
                    "(reports/<profile>/results.csv) instead of models/<profile>/: the tables and verdicts "
                    "under the current rules, no training; the figures already there are kept")
    sp.set_defaults(func=cmd_report)

    sp = sub.add_parser("run", parents=parents, help="train landmarks (all of the profile by default), then report")
    sp.add_argument("landmarks", nargs="*")
    with_profile(sp), with_dirs(sp), with_training(sp)
    sp.set_defaults(func=cmd_run)

    sp = sub.add_parser("sync", parents=parents, help="send tracking records kept while MLflow was unreachable")
    sp.add_argument("journals", nargs="*", help="journal files (default: all in tracking-pending/)")
    sp.add_argument("--uri", help="tracking URI to send to (default: the one the journal was meant for)")
    sp.set_defaults(func=cmd_sync)

    sp = sub.add_parser("ui", parents=parents, help="open the MLflow UI on 127.0.0.1")
    sp.add_argument("--port", type=_port, default=5000, help="on 127.0.0.1 (default: 5000)")
    sp.set_defaults(func=cmd_ui)
