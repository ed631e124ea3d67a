"""Load the catalog: every `benchmarks/*.yaml` into a `Landmark`, checked for shape and consistency.

    landmarks list                   # what the catalog holds (needs neither torch nor MLflow)
    landmarks check                  # the same files, checked against the registries of code too

Loading checks what the files alone can say: types, unknown keys, claim names that orderings
and profiles refer to, profiles that exist, recipes that resolve under every profile. Whether
models, datasets, tasks and metrics are registered is `landmarks.catalog_check`' job.
"""

from __future__ import annotations

import difflib
import graphlib
from pathlib import Path
from typing import Any, Callable, Mapping

from landmarks.catalog.schema import CLAIM_NAME_MAX, PROFILE_NAME, PROFILES, Claim, Landmark
from landmarks.errors import ConfigError
from landmarks.schema import read_yaml, validate
from landmarks.train.recipe import Recipe


def deep_merge(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for over in overrides:
        for key, value in over.items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = value
    return out


def resolve_recipe(lm: Landmark, claim: Claim, profile: str) -> Recipe:
    """The recipe one run uses: the landmark's, then the claim's overrides, then the profile's, then
    the profile's for this claim."""
    prof = lm.profile(profile)
    override = prof.overrides.get(claim.name)
    merged = deep_merge(lm.recipe.model_dump(mode="json"), claim.recipe, prof.recipe,
                        override.recipe if override else {})
    return validate(Recipe, merged, lm.path, f"recipe (resolved for claim {claim.name!r}, profile {profile})")


def _consistent(lm: Landmark, path: Path) -> None:
    def fail(fld: str, msg: str) -> ConfigError:
        return ConfigError(f"{path}: field '{fld}': {msg}")

    if lm.id != path.stem:
        raise fail("id", f"{lm.id!r} must equal the file name {path.stem!r}")
    if not lm.claims:
        raise fail("claims", "at least one claim is needed")
    names = [c.name for c in lm.claims]
    for i, c in enumerate(lm.claims):
        _check_claim_name(lm, i, fail)
        if c.tolerance is not None and not c.tolerance_reason.strip():
            raise fail(f"claims[{i}].tolerance_reason", "a stated tolerance needs its reason (why not the rule's)")
        if lm.metric_of(c) in c.also:
            raise fail(f"claims[{i}].also.{lm.metric_of(c)}", "is the claim's own metric; its value is `paper`")
    for j, ref in enumerate(lm.references):
        if not ref.values:
            raise fail(f"references[{j}].values", "at least one published value is needed (metric: value)")
        for name in ref.beside:
            if name not in names:
                raise fail(f"references[{j}].beside", f"{name!r} is not a claim of this landmark ({', '.join(names)})")
    _check_orderings(lm, names, fail)
    if not lm.profiles:
        raise fail("profiles", f"at least one profile is needed ({', '.join(PROFILES)})")
    for pname, prof in lm.profiles.items():
        if pname not in PROFILES:
            if not PROFILE_NAME.match(pname):
                raise fail(f"profiles.{pname}", "a profile name is lower-case letters, digits and '-', "
                           "starting with a letter (at most 40)")
            near = difflib.get_close_matches(pname, PROFILES, n=1, cutoff=0.75)
            if near:  # a typo would otherwise quietly make a profile of one landmark
                raise fail(f"profiles.{pname}", f"unknown profile; did you mean {near[0]!r}? (a new profile needs a "
                           f"name not this close to one of {', '.join(PROFILES)})")
        if not prof.seeds:
            raise fail(f"profiles.{pname}.seeds", "at least one seed is needed")
        if prof.minor_departures and prof.modified_recipe:
            raise fail(f"profiles.{pname}.minor_departures", "a modified recipe names its departures in `note`; "
                       "minor departures are for a profile that otherwise runs the paper's recipe: drop one")
        for j, dep in enumerate(prof.minor_departures):
            for key in ("what", "why"):
                if not getattr(dep, key).strip():
                    raise fail(f"profiles.{pname}.minor_departures[{j}].{key}", "is empty: a minor departure names "
                               "what differs and why it cannot move a claim's number by its tolerance")
        for j, n in enumerate(prof.claims or ()):
            if n not in names:
                raise fail(f"profiles.{pname}.claims[{j}]", f"no claim named {n!r}")
        for n in prof.overrides:
            if n not in names:
                raise fail(f"profiles.{pname}.overrides", f"no claim named {n!r}")
        for c in lm.claims_for(pname):
            resolve_recipe(lm, c, pname)  # every override must still give a valid recipe


def _check_claim_name(lm: Landmark, i: int, fail: Callable[[str, str], ConfigError]) -> None:
    """A name used once, short enough and distinct enough to name its runs' files."""
    name, stem = lm.claims[i].name, lm.claims[i].file_name
    if [c.name for c in lm.claims].count(name) > 1:
        raise fail(f"claims[{i}].name", f"{name!r} is used twice")
    if len(name) > CLAIM_NAME_MAX:
        raise fail(f"claims[{i}].name", f"{len(name)} characters long ({name[:40]!r}...); a claim's name names its "
                   f"runs' files and MLflow keys: shorten it to at most {CLAIM_NAME_MAX} characters")
    if not stem:
        raise fail(f"claims[{i}].name", f"{name!r} has no letter or digit to name its runs' files by")
    other = next((c.name for c in lm.claims[:i] if c.file_name == stem), None)
    if other is not None:
        raise fail(f"claims[{i}].name", f"{name!r} and {other!r} would share their runs' files ({stem}-seed*.pt): "
                   "rename one (names differing only in punctuation or spaces are one name to a file system)")


def _check_orderings(lm: Landmark, names: list[str], fail: Callable[[str, str], ConfigError]) -> None:
    """Each ordering names claims that exist, each once, and the orderings on one metric together
    form a partial order: a cycle (A before B in one, B before A in another) would be reported as
    both reproduced and not reproduced."""
    before: dict[str, dict[str, set[str]]] = {}  # metric -> claim -> the claims worse than it
    for i, o in enumerate(lm.orderings):
        for j, n in enumerate(o.claims):
            if n not in names:
                raise fail(f"orderings[{i}].claims[{j}]", f"no claim named {n!r}")
            if n in o.claims[:j]:
                raise fail(f"orderings[{i}].claims[{j}]", f"{n!r} is listed twice; an ordering names each claim "
                           "once, from worst to best")
        metric = o.metric or lm.metric
        graph = before.setdefault(metric, {})
        for worse, better in zip(o.claims, o.claims[1:]):
            graph.setdefault(better, set()).add(worse)
        try:
            graphlib.TopologicalSorter(graph).prepare()
        except graphlib.CycleError as exc:
            cycle = " -> ".join(map(repr, reversed(exc.args[1])))
            raise fail(f"orderings[{i}].claims", f"contradicts an earlier ordering on {metric}: together they "
                       f"go round in a circle ({cycle}, worst to best); remove or reverse one of them") from None
        if o.ratio_tolerance is not None and (o.ratio is None or not o.ratio_tolerance_reason.strip()):
            raise fail(f"orderings[{i}].ratio_tolerance_reason", "a stated ratio tolerance needs the `ratio` it "
                       "bands and its reason (why not the rule for a number read off a figure)")


def load_landmark(path: Path) -> Landmark:
    lm = validate(Landmark, read_yaml(path), str(path))
    lm._path = str(path)
    _consistent(lm, path)
    return lm


def load_catalog(directory: Path | str = "benchmarks") -> dict[str, Landmark]:
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{directory}: no catalog files (*.yaml) found; run from the project root")
    return {lm.id: lm for lm in map(load_landmark, files)}


def profile_names(catalog: Mapping[str, Landmark]) -> list[str]:
    """The project's profiles, then those catalog files declare, in order of first appearance."""
    names = list(PROFILES)
    for lm in catalog.values():
        names += [p for p in lm.profiles if p not in names]
    return names


def check_profile(catalog: Mapping[str, Landmark], name: str, where: str) -> str:
    """`name` if it is a profile of the project or of a catalog file; a ConfigError otherwise."""
    known = profile_names(catalog)
    if name in known:
        return name
    near = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    raise ConfigError(f"{where}: unknown profile {name!r}{hint} known: {', '.join(known)} (a catalog file may "
                      f"declare a new one under `profiles:`)")


def get_landmark(catalog: Mapping[str, Landmark], landmark_id: str) -> Landmark:
    if landmark_id not in catalog:
        raise ConfigError(f"unknown landmark {landmark_id!r}; known: {', '.join(sorted(catalog))}")
    return catalog[landmark_id]
