"""What several commands read: params.yaml, the profile, the catalog (checked or not)."""

from __future__ import annotations

import argparse

from landmarks.catalog import PROFILES, Landmark, check_profile, get_landmark, load_catalog
from landmarks.config import Params, load_params


def params(args: argparse.Namespace) -> Params:
    return load_params(args.params)


def profile(args: argparse.Namespace) -> str:
    where = "--profile" if args.profile else f"{args.params}: field 'profile'"
    return check_profile(load_catalog(args.catalog), args.profile or params(args).profile, where)


def checked(args: argparse.Namespace, profile_name: str | None = None, ids: list[str] | None = None
            ) -> dict[str, Landmark]:
    """The catalog, with the landmarks a command will use checked against the registries of code
    (those of `ids`, else those of `profile_name`, else all) before anything runs."""
    from landmarks.catalog_check import check_landmark

    catalog = load_catalog(args.catalog)
    if ids:
        chosen = [get_landmark(catalog, i) for i in ids]
    else:
        chosen = [lm for lm in catalog.values() if profile_name is None or profile_name in lm.profiles]
    for lm in chosen:
        check_landmark(lm)
    return catalog


def with_profile(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--profile", help=f"{' | '.join(PROFILES)}, or one a catalog file declares (default: "
                    "params.yaml's)")
