"""Commands about the catalog: list, check, schema, use."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from landmarks.catalog import Landmark, check_profile, load_catalog
from landmarks.cli.options import checked
from landmarks.files import write_atomic


def cmd_list(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.catalog)
    if args.profile:
        check_profile(catalog, args.profile, "--profile")
    for lm in catalog.values():
        if args.profile and args.profile not in lm.profiles:
            continue
        if args.ids:
            print(lm.id)
            continue
        print(f"{lm.id}: {lm.title}")
        print(f"  task {lm.task}, dataset {lm.dataset or '(generated)'}, metric {lm.metric}")
        for name, prof in lm.profiles.items():
            fidelity = lm.fidelity(name)
            tag = "" if fidelity == "paper" else f", {fidelity}"
            needs = "".join(f"; {what} {text}" for what, text in
                            (("hardware", prof.hardware), ("expected time", prof.expected_time)) if text)
            print(f"  profile {name}: {len(lm.claims_for(name))} claims x {len(prof.seeds)} seeds{tag}{needs}")
        for c in lm.claims:
            side = {"mean_above": "> ", "mean_below": "< "}.get(c.check, "")
            paper = "-" if c.paper is None else f"{side}{c.paper:g}"
            also = "".join(f", {metric} {value:g}" for metric, value in c.also.items())
            print(f"    claim {c.name!r}: model {c.model}, paper {paper}{also} ({c.source})")
        for ref in lm.references:
            values = ", ".join(f"{metric} {value:g}" for metric, value in ref.values.items())
            print(f"    reference {ref.name!r} (not re-run): {values} ({ref.source})")
        for o in lm.orderings:
            ratio = f", the first {o.ratio:g} times the last" if o.ratio is not None else ""
            print(f"    ordering: {' -> '.join(o.claims)} (worst to best{ratio})")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    catalog = checked(args, ids=args.landmarks or None)
    n = len(args.landmarks) if args.landmarks else len(catalog)
    print(f"{args.catalog}: {n} landmarks checked against the registries: all good")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    schema = Landmark.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "landmarks: one landmark of the catalog (benchmarks/<id>.yaml)"
    text = json.dumps(schema, indent=1) + "\n"
    if args.out:
        write_atomic(Path(args.out), text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    from landmarks.config import use_profile

    lists = use_profile(Path(args.params), checked(args, args.profile), args.profile)
    n = len(lists["landmarks"]) + len(lists["generated"])
    print(f"{args.params}: profile {args.profile}, {n} landmarks, datasets "
          f"{', '.join(lists['datasets']) or 'none'}; now run `dvc repro`")
    from landmarks.cli.plan import planned_total
    from landmarks.config import load_params

    print(f"Time: {planned_total(load_catalog(args.catalog), args.profile, load_params(args.params))}")
    return 0


def add_parsers(sub, parents: list[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser("list", parents=parents, help="list landmarks, claims and profiles")
    sp.add_argument("--profile", help="only landmarks that have this profile")
    sp.add_argument("--ids", action="store_true", help="print only the ids")
    sp.set_defaults(func=cmd_list)

    sp = sub.add_parser("check", parents=parents,
                        help="check the catalog against the registered models, datasets, tasks and metrics")
    sp.add_argument("landmarks", nargs="*", help="only these landmarks (default: all)")
    sp.set_defaults(func=cmd_check)

    sp = sub.add_parser("schema", parents=parents, help="write the JSON Schema of a landmark file (for editors)")
    sp.add_argument("--out", help="write it to this file (default: standard output)")
    sp.set_defaults(func=cmd_schema)

    sp = sub.add_parser("use", parents=parents, help="point params.yaml (and so `dvc repro`) at a profile")
    sp.add_argument("profile")
    sp.set_defaults(func=cmd_use)
