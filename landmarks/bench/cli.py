"""`landmarks bench`: measured figures beside their baseline, saved under reports/bench/."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def cmd_bench(args: argparse.Namespace) -> int:
    import pandas as pd

    from landmarks.bench.save import save
    from landmarks.config import load_params
    from landmarks.provenance import machine_label
    from landmarks.train.seeding import resolve_device

    params = load_params(args.params)
    device = resolve_device(args.device or params.train.device)
    log.info("bench %s on %s", args.kind, machine_label(device))
    if args.kind == "epoch":
        table, notes = _epoch_bench(args, device, params)
    elif args.kind == "loader":
        from landmarks.bench import loader

        workers = loader.default_workers() if args.workers is None else args.workers
        rows, notes = loader.run(Path(args.root).expanduser() if args.root else None, args.images or 1024,
                                 args.batch_size, workers, device, args.repeats, args.image_size)
        table = pd.DataFrame(rows)
    elif args.kind == "plan":
        from landmarks.bench import plan_check

        table, notes = plan_check.table(args.models.split(",") if args.models else None, device, Path(params.data.dir))
    elif args.kind == "runs":
        from landmarks.bench import runs

        counts = args.procs or [1, os.cpu_count() or 1]
        names = args.models.split(",") if args.models else list(runs.CASES)
        unknown = sorted(set(names) - set(runs.CASES))
        if unknown:
            log.error("bench runs: no case %s; choose from %s", ", ".join(unknown), ", ".join(runs.CASES))
            return 2
        table = pd.DataFrame(runs.run(names, sorted(set(counts)), Path(args.catalog), args.steps))
        notes = runs.__doc__.split("\n\n", 2)[2].replace("\n", " ").strip()
    elif args.kind == "seeds":
        if (bench := _seeds_bench(args)) is None:
            return 2
        table, notes = bench
    elif args.kind == "procs":
        from landmarks.bench import procs

        table = pd.DataFrame(procs.run(sorted(set(args.procs or [1, 2])), device, args.images or procs.IMAGES))
        notes = procs.__doc__.split("\n\n", 2)[2].replace("\n", " ").strip()
    else:
        from landmarks.bench import step

        default = step.CPU_DEFAULT if device.type == "cpu" else tuple(step.MODELS)
        names = args.models.split(",") if args.models else list(default)
        unknown = sorted(set(names) - set(step.MODELS))
        if unknown:
            log.error("bench step: no model %s; choose from %s", ", ".join(unknown), ", ".join(step.MODELS))
            return 2
        rows, peaks = step.run(names, device, args.steps, args.warmup, args.repeats)
        peaks += f" Each figure: the median of {args.repeats} passes of {args.steps} steps."
        table, notes = pd.DataFrame(rows), f"{peaks}\n\n{step.NOTES}"
        print(peaks)
    print(table.to_markdown(index=False))
    print(f"saved {save(args.kind, table, device, Path(args.out), notes)}")
    return 0


def _epoch_bench(args: argparse.Namespace, device, params) -> tuple:
    import pandas as pd

    from landmarks.bench import epoch
    from landmarks.data.prepare import ensure_prepared

    splits = ensure_prepared("mnist", Path(params.data.dir), params.data.mirror)
    if args.images:
        from dataclasses import replace

        splits = replace(splits, train_x=splits.train_x[: args.images], train_y=splits.train_y[: args.images])
    names = args.models.split(",") if args.models else list(epoch.MODELS)
    workers = 2 if args.workers is None else args.workers
    rows = epoch.run(splits, names, device, workers)
    table = pd.DataFrame([{"model": r.model, "batch": r.batch, "engine s/epoch": round(r.engine_s, 3),
                           "tutorial loop s/epoch": round(r.tutorial_s, 3), "speed-up": round(r.speedup, 2)}
                          for r in rows])
    notes = (f"One epoch of MNIST ({len(splits.train_y):,} images) after a warm-up. Tutorial loop: PIL images, ToTensor, "
             f"Normalize, DataLoader(shuffle=True, num_workers={workers}).")
    return table, notes


def _seeds_bench(args: argparse.Namespace) -> tuple | None:
    """The seeds bench's table and notes, or None after logging what in the arguments is wrong."""
    import pandas as pd

    from landmarks.bench import seeds

    names = args.models.split(",") if args.models else list(seeds.MODELS)
    unknown = sorted(set(names) - set(seeds.MODELS))
    if unknown:
        log.error("bench seeds: no model %s; choose from %s", ", ".join(unknown), ", ".join(seeds.MODELS))
        return None
    table = pd.DataFrame(seeds.run(names, args.stack or [2, 4, 8], max(args.steps, 2), args.repeats))
    notes = seeds.__doc__.split("\n\n", 2)[2].replace("\n", " ").strip()
    return table, notes


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 1 or more")
    return int(text)


def _counts(text: str) -> list[int]:
    """`1,2,4`: whole numbers, 1 or more, comma-separated (process counts, seeds stacked)."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected whole numbers, 1 or more, comma-separated (e.g. 1,2,4)")
    return [int(p) for p in parts]


def _at_least_zero(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number, 0 or more")
    return int(text)


def _width_height(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) >= 8 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r}: expected WIDTHxHEIGHT, e.g. 500x375, sides at least 8")
    return int(parts[0]), int(parts[1])


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("bench", parents=parents, help="speed: the engine beside a baseline, in one run")
    sp.add_argument("kind", choices=["epoch", "step", "procs", "runs", "seeds", "loader", "plan"], help="epoch: engine vs tutorial loop on "
                    "MNIST; step: ms per training step and GFLOP/s, eager fp32 vs the device's fast path; "
                    "plan: `landmarks plan`'s estimate beside a measured run (an MLP epoch, LeNet-5, ResNet-20); "
                    "procs: a data-parallel MLP epoch with 1, 2, ... processes; "
                    "runs: runs per hour of long CPU profiles, one process with every core vs a run per core, "
                    "SDLM eager vs compiled; seeds: one-sample SDLM seeds stepped one after another vs stacked in one step; "
                    "loader: images/s of the ImageNet JPEG pipeline vs torchvision's reference")
    sp.add_argument("--procs", type=_counts, help="procs bench: comma-separated process counts (default 1,2); runs bench: "
                    "(default 1 and the number of cores)")
    sp.add_argument("--stack", type=_counts, help="seeds bench: comma-separated numbers of seeds stepped together (default 2,4,8)")
    sp.add_argument("--models", help="comma-separated (default: all of the kind; plan bench: its cases' names)")
    sp.add_argument("--device", help="auto | cpu | cuda (default: params.yaml's)")
    sp.add_argument("--workers", type=_at_least_zero, help="DataLoader workers: of the tutorial loop (epoch bench, default 2); "
                    "of both pipelines (loader bench, default min(cores, 8))")
    sp.add_argument("--images", type=_at_least_zero, default=0, help="epoch bench: only the first N training images; "
                    "procs bench: N synthetic images (default 60,000); loader bench: N images (default 1,024)")
    sp.add_argument("--root", help="loader bench: a class-folder tree of your images (<root>/train/<class>/ or "
                    "<root>/<class>/) instead of generated JPEGs")
    sp.add_argument("--image-size", type=_width_height, default=(500, 375), help="loader bench: generated images' WxH (default 500x375)")
    sp.add_argument("--batch-size", type=_positive, default=64, help="loader bench: images per batch (default 64)")
    sp.add_argument("--repeats", type=_positive, default=5, help="loader bench: timed passes per pipeline; step and seeds benches: rounds in which "
                    "the paths take turns; the median is reported (default 5)")
    sp.add_argument("--steps", type=_positive, default=50, help="timed steps per path (step bench; seeds bench: "
                    "steps of each seed over all rounds)")
    sp.add_argument("--warmup", type=_at_least_zero, default=10, help="untimed steps first (step bench)")
    sp.add_argument("--out", default="reports/bench", help="where results are saved")
    sp.set_defaults(func=cmd_bench)
