"""`landmarks plan`: the time a profile takes on this machine, claim by claim, and what fits a budget."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _measured(profile: str) -> "pd.DataFrame":  # noqa: F821
    """The times of the profile's runs on record: the report's run-info.csv (results.csv held them
    itself before they moved there)."""
    import pandas as pd

    for name in ("run-info.csv", "results.csv"):
        path = Path("reports") / profile / name
        try:
            return pd.read_csv(path, usecols=["landmark", "claim", "seconds"])
        except (OSError, ValueError):
            continue
    return pd.DataFrame()


def make_timer(device, retime: bool, steps: int):
    """(claim, recipe, shape, classes) -> StepTime, from the machine's cache or timed (then cached)."""
    from landmarks.plan.timing import TimingCache, machine_key, step_key, time_step

    cache, machine = TimingCache(), machine_key(device)

    def timer(claim, recipe, shape, num_classes, task: str = "classify"):
        key = step_key(claim, recipe, shape, task)
        found = None if retime else cache.get(machine, key)
        if found is None:
            if task == "dqn":
                from landmarks.plan.dqn_timing import time_dqn_step

                log.info("  timing %s on %s (agent steps) ...", claim.model, claim.data_args.get("game"))
                found = time_dqn_step(claim, recipe)
            else:
                log.info("  timing %s (batch %d, %s) ...", claim.model, recipe.batch_size, recipe.optimizer)
                found = time_step(claim, recipe, shape, num_classes, device, steps=steps)
            cache.put(machine, key, found)
        return found

    return timer


def plan_table(plans, budget: float | None):
    import pandas as pd

    from landmarks.plan.estimate import human, within_budget

    fits = within_budget(plans, budget) if budget else [None] * len(plans)
    rows = []
    for p, fit in zip(plans, fits):
        row = {"landmark": p.landmark, "claim": p.claim, "model": p.model, "seeds": p.seeds,
               "steps/run": "" if p.steps is None else f"{p.steps:,}",
               "per run": ("at most " if p.upper_bound else "") + human(p.seconds),
               "all seeds": human(p.total), "from": p.source,
               "report's runs": "" if p.measured is None else human(p.measured)}
        if budget:
            row["within budget"] = "yes" if fit else "no"
        rows.append(row)
    return pd.DataFrame(rows)


def cmd_plan(args: argparse.Namespace) -> int:
    from landmarks.cli.options import checked, profile
    from landmarks.config import load_params
    from landmarks.plan.estimate import expected_seconds, human, parse_duration, plan_profile
    from landmarks.provenance import machine_label
    from landmarks.train.seeding import resolve_device

    name = profile(args)
    catalog = checked(args, name, ids=args.landmarks or None)
    budget = parse_duration(args.budget) if args.budget else None
    params = load_params(args.params)
    device = resolve_device(args.device or params.train.device)
    log.info("plan for profile %s on %s", name, machine_label(device))
    plans = plan_profile(catalog, name, Path(params.data.dir), make_timer(device, args.retime, args.steps),
                         _measured(name), tuple(args.landmarks))
    if not plans:
        print(f"no landmark has profile {name!r}")
        return 0
    print(plan_table(plans, budget).to_markdown(index=False))
    known = [p.total for p in plans if p.total is not None]
    unknown = [f"{p.landmark}: {p.claim}" for p in plans if p.total is None]
    print(f"\nTotal for profile {name} on {machine_label(device)} ({len(plans)} claims, one after another): "
          f"{human(sum(known))}" + (f", plus {len(unknown)} claims with no estimate" if unknown else ""))
    for lm_id in dict.fromkeys(p.landmark for p in plans):
        stated = catalog[lm_id].profile(name).expected_time
        mine = sum(p.total or 0.0 for p in plans if p.landmark == lm_id)
        want = expected_seconds(stated) if stated else None
        if want and (mine > 2 * want or mine < want / 2):
            print(f"  {lm_id}: planned {human(mine)} here, while its profile says {stated!r} (hardware: "
                  f"{catalog[lm_id].profile(name).hardware or 'not stated'})")
    if budget:
        inside = sum(p.total or 0.0 for p, fit in zip(plans, plan_table(plans, budget)["within budget"]) if fit == "yes")
        print(f"Within {args.budget}: the claims marked yes ({human(inside)}); run them with `landmarks train "
              f"<landmark> --profile {name} --claim <name>`")
    return 0


def planned_total(catalog, name: str, params) -> str:
    """The profile's planned total from the timing cache alone (nothing is timed), for `use`."""
    from landmarks.plan.estimate import human, plan_profile
    from landmarks.plan.timing import TimingCache, machine_key, step_key
    from landmarks.train.seeding import resolve_device

    device = resolve_device(params.train.device)
    cache, machine = TimingCache(), machine_key(device)
    missing = []

    def cached(claim, recipe, shape, num_classes, task: str = "classify"):
        found = cache.get(machine, step_key(claim, recipe, shape, task))
        if found is None:
            missing.append(claim.model)
            raise LookupError
        return found

    try:
        plans = plan_profile(catalog, name, Path(params.data.dir), cached, _measured(name))
    except LookupError:
        return f"not yet timed on this machine: `landmarks plan --profile {name}` times it (a few steps per model)"
    return f"planned on this machine: {human(sum(p.total or 0.0 for p in plans))} (`landmarks plan --profile {name}`)"


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    from landmarks.cli.options import with_profile

    sp = sub.add_parser("plan", parents=parents, help="the time a profile takes on this machine, claim by claim")
    sp.add_argument("landmarks", nargs="*", help="only these landmarks (default: every landmark with the profile)")
    with_profile(sp)
    sp.add_argument("--budget", help="a duration (8h, 90m, 1h30m, 2d): which claims fit in it, in catalog order")
    sp.add_argument("--device", help="auto | cpu | cuda (default: params.yaml's)")
    sp.add_argument("--retime", action="store_true", help="time every step again instead of reading the cache")
    sp.add_argument("--steps", type=int, default=20, help="timed steps per model (default 20)")
    sp.set_defaults(func=cmd_plan)
