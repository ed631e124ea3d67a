"""What a landmark file (`benchmarks/<id>.yaml`) may hold: strict, frozen pydantic models.

    landmarks schema > landmark.schema.json   # for editors that check and complete YAML

Only the shape of the file is checked here; whether its models, datasets, tasks and metrics
exist is `landmarks.catalog_check`' job, so this module imports no registry of code.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Mapping

from pydantic import Field, PrivateAttr

from landmarks.errors import ConfigError
from landmarks.schema import Strict
from landmarks.train.recipe import Recipe

# The profiles this project defines. quick: offline and CPU, minutes. classic: MNIST-era
# landmarks at full recipe, CPU-feasible. paper: every landmark at its paper recipe (GPU for
# CIFAR-10). imagenet: user-supplied ImageNet. cifar-cpu: the CIFAR-10 landmarks in about 2 hours
# on a 2-core CPU with bf16 units. A catalog file may declare a profile of its own (a course's
# "lecture", a cluster's "nightly"): any name PROFILE_NAME allows that is not a near-miss of these.
PROFILES = ("quick", "classic", "cifar-cpu", "atari-cpu", "paper", "imagenet")
PROFILE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
# a claim's name is part of its runs' file names (checkpoints, weights: 255 bytes at most on most
# file systems) and of MLflow keys (`<claim>/mean`: 250 characters at most); the catalog's longest
# is 48 characters
CLAIM_NAME_MAX = 100

# A profile's fidelity to the paper's recipe, which decides what its verdicts may say: only
# PAPER and MINOR runs may say `reproduced`; a recipe both modified and reduced is "modified
# recipe, reduced budget"
PAPER, MINOR, MODIFIED, REDUCED = "paper", "paper, minor departures", "modified recipe", "reduced budget"


class Claim(Strict):
    name: str
    model: str
    paper: float | None = None  # the published value; None where the claim is an ordering only
    source: str = ""  # table or figure of the paper
    metric: str | None = None  # defaults to the landmark's metric
    # mean_within: the 95% interval of the mean inside the paper's value +- tolerance.
    # mean_above / mean_below: a claim the paper makes in words, not as a number ("usually
    # learns it": most seeds, a share above 0.5): `paper` is the bound the words set, and the
    # interval must lie on its side. all_at_most / all_at_least: every run on the right side of
    # the paper's value (a bound that must hold, such as a theorem's: a check, not a reproduction)
    check: Literal["mean_within", "mean_above", "mean_below", "all_at_most", "all_at_least"] = "mean_within"
    # the spread (std over runs) the paper reports for its own number, where it gives one; it is
    # then the tolerance (He et al. 2016, ResNet-110: 6.61 +- 0.16)
    paper_spread: float | None = Field(None, ge=0.0)
    # a tolerance stated here overrides the rule (paper_spread, else the test set's binomial noise
    # and the paper's rounding) and must say why in tolerance_reason
    tolerance: float | None = Field(None, ge=0.0)
    tolerance_reason: str = ""
    # keyword arguments of the model's builder, checked against its signature at load
    model_args: Mapping[str, Any] = Field(default_factory=dict)
    data_args: Mapping[str, Any] = Field(default_factory=dict)
    recipe: Mapping[str, Any] = Field(default_factory=dict)  # overrides of the landmark's recipe for this claim
    note: str = ""
    # the result does not depend on the seed (libsvm's SVC): run once, with the profile's first
    # seed, instead of repeating a long identical fit
    seed_independent: bool = False
    # published values of other metrics the same runs measure, metric name -> value (AlexNet
    # Table 2: top-1 40.7 is `paper`, `also: {top5_error: 18.2}`): each is a row of its own,
    # decided by `check` on the runs' value of that metric, its tolerance from the rule (a stated
    # `tolerance` or `paper_spread` is for `paper` alone)
    also: Mapping[str, float] = Field(default_factory=dict)

    def seeds(self, profile_seeds: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(profile_seeds[:1]) if self.seed_independent else tuple(profile_seeds)

    @property
    def file_name(self) -> str:
        """The name as its runs' files carry it: letters, digits, '.', '_' and '-' ('2-layer NN, 300 HU'
        -> '2-layer_NN_300_HU'); the loader refuses two claims of one landmark that share it."""
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name).strip("_")


class Ordering(Strict):
    """A claim that one model beats another: `claims` listed from worst to best on `metric`."""

    claims: tuple[str, ...]
    source: str = ""
    metric: str | None = None  # defaults to the landmark's metric
    # the paper's ratio of the first claim's value to the last one's (AlexNet Fig. 1: about 6),
    # judged as a claim of its own: the ratio's interval against a band. A number read off a
    # figure or written in words holds for any value that rounds to it (6: 5.5 to 6.5); a
    # `ratio_tolerance` stated with its reason replaces that rule
    ratio: float | None = Field(None, gt=0.0)
    ratio_tolerance: float | None = Field(None, gt=0.0)
    ratio_tolerance_reason: str = ""


class Reference(Strict):
    """A result the paper reports for comparison and this project does not re-run (AlexNet
    Table 1: sparse coding 47.1 / 28.2): shown as published, verdict "not re-run"."""

    name: str
    values: Mapping[str, float]  # metric name -> published value
    source: str  # table or figure of the paper
    note: str = ""
    # the claims it stands beside (a game's human and random scores beside that game's DQN): shown
    # only where one of them was run; empty: beside every claim
    beside: tuple[str, ...] = ()

    def shown_with(self, ran: set[str] | frozenset[str]) -> bool:
        return not self.beside or bool(set(self.beside) & set(ran))


class ClaimOverride(Strict):
    """A claim as one profile runs it: LeCun et al. 1998's own LeNet-5 and criterion where a
    profile runs the paper's recipe, the modern form in the others (same claim, same paper value)."""

    model: str | None = None  # None: the claim's own
    model_args: Mapping[str, Any] | None = None
    recipe: Mapping[str, Any] = Field(default_factory=dict)  # applied after the profile's recipe


class Departure(Strict):
    """A way a profile's recipe departs from the paper's that cannot move a claim's number by its
    tolerance, and why (per-channel standardisation for per-pixel mean subtraction: ...)."""

    what: str
    why: str


class Profile(Strict):
    seeds: tuple[Annotated[int, Field(ge=0)], ...]
    # claim name -> its net and recipe under this profile, where they differ from the claim's own
    overrides: Mapping[str, ClaimOverride] = Field(default_factory=dict)
    recipe: Mapping[str, Any] = Field(default_factory=dict)  # overrides of the recipe under this profile
    # True when the budget is below the paper's (fewer epochs, a subset): every row then names
    # "reduced budget" beside its result instead of a verdict on the paper's number
    reduced_budget: bool = False
    # True when the recipe departs from the paper's in another way (optimiser, schedule,
    # precision, preprocessing): the rows say "modified recipe; <result>"; `note` names each departure
    modified_recipe: bool = False
    # departures too small to move any claim's number by its tolerance, each with its reason: the
    # fidelity is then "paper, minor departures" and the verdicts on the paper's numbers stand
    minor_departures: tuple[Departure, ...] = ()
    claims: tuple[str, ...] | None = None  # the claims this profile runs; all when absent
    note: str = ""
    # what a reader needs before starting it, shown with the note: "1 GPU (A100 class) or more",
    # "about 3 days on 8 V100s"
    hardware: str = ""
    expected_time: str = ""


class Landmark(Strict):
    id: str
    title: str
    citation: str
    url: str
    task: str
    metric: str
    claims: tuple[Claim, ...]
    profiles: Mapping[str, Profile]
    dataset: str | None = None
    recipe: Recipe = Field(default_factory=Recipe)
    orderings: tuple[Ordering, ...] = ()
    references: tuple[Reference, ...] = ()  # the paper's comparison rows, shown beside the claims
    notes: str = ""
    _path: str = PrivateAttr(default="")  # the file it came from, set by the loader

    @property
    def path(self) -> str:
        return self._path

    def claim(self, name: str) -> Claim:
        for c in self.claims:
            if c.name == name:
                return c
        raise ConfigError(f"{self.path}: no claim named {name!r}")

    def profile(self, name: str) -> Profile:
        if name not in self.profiles:
            raise ConfigError(
                f"{self.path}: field 'profiles': no profile {name!r} "
                f"(this landmark has: {', '.join(self.profiles) or 'none'})"
            )
        return self.profiles[name]

    def claims_for(self, profile: str) -> tuple[Claim, ...]:
        """The profile's claims, each with the net the profile trains it on."""
        prof = self.profile(profile)
        claims = self.claims if prof.claims is None else tuple(self.claim(n) for n in prof.claims)
        return tuple(self.claim_in(c.name, profile) for c in claims)

    def claim_in(self, name: str, profile: str) -> Claim:
        """Claim `name` as a profile runs it: its model replaced where the profile's `overrides` say."""
        claim, override = self.claim(name), self.profile(profile).overrides.get(name)
        if override is None or (override.model is None and override.model_args is None):
            return claim
        return claim.model_copy(update={"model": override.model or claim.model,
                                        "model_args": dict(override.model_args if override.model_args is not None
                                                           else claim.model_args)})

    def metric_of(self, claim: Claim) -> str:
        return claim.metric or self.metric

    def fidelity(self, profile: str) -> str:
        """What a profile's recipe is to the paper's: "paper", "paper, minor departures",
        "modified recipe", "reduced budget", or "modified recipe, reduced budget"."""
        prof = self.profile(profile)
        off = [name for name, on in ((MODIFIED, prof.modified_recipe), (REDUCED, prof.reduced_budget)) if on]
        return ", ".join(off) if off else MINOR if prof.minor_departures else PAPER

    def budget(self, profile: str) -> str:
        """"paper", "reduced budget" or "modified recipe": one word for a run's parameters (the
        report judges by `fidelity`, which names both and minor departures)."""
        prof = self.profile(profile)
        return REDUCED if prof.reduced_budget else MODIFIED if prof.modified_recipe else PAPER
