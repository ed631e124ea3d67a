"""The catalog: one YAML file per landmark in benchmarks/, loaded into frozen dataclasses.

    landmarks list                   # what the catalog holds
    landmarks list --profile quick   # only what that profile runs

A file is checked whole at load time: unknown keys, wrong types, models, datasets, tasks or
metrics that are not registered, profiles that do not exist. Each error names the file and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Mapping

from landmarks.errors import ConfigError
from landmarks.strict import build, read_yaml, to_plain

# quick: offline and CPU, minutes. classic: MNIST-era landmarks at full recipe, CPU-feasible.
# paper: every landmark at its paper recipe (GPU for CIFAR-10). imagenet: user-supplied ImageNet.
PROFILES = ("quick", "classic", "paper", "imagenet")

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Schedule:
    kind: Literal["constant", "step", "multistep", "cosine"] = "constant"
    # milestones and step_size count epochs, or optimizer steps when unit is "step"
    # (He et al. 2016 divide the rate at 32k and 48k iterations, not at epochs)
    unit: Literal["epoch", "step"] = "epoch"
    milestones: tuple[int, ...] = ()
    step_size: int = 0
    gamma: float = 0.1
    # a lower rate for the first steps (ResNet-110: 0.01 for about 400 iterations), as a factor
    warmup_steps: int = 0
    warmup_factor: float = 1.0


@dataclass(frozen=True)
class Recipe:
    optimizer: Literal["sgd", "perceptron"] = "sgd"
    lr: float = 0.1
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    batch_size: int = 32
    epochs: int = 10
    # stop after this many optimizer steps, mid-epoch if need be (He et al. 2016 stop at 64k
    # iterations); 0: run all epochs
    max_steps: int = 0
    drop_last: bool = False  # skip the last, smaller batch of each epoch (fixed shapes for CUDA graphs)
    loss: Literal["cross_entropy", "mse"] = "cross_entropy"
    schedule: Schedule = field(default_factory=Schedule)
    # share of the training set held out for validation (fixed split, same for every seed)
    val_fraction: float = 0.1
    # "last": report the final model (the papers' practice); "best_val": the epoch with the
    # lowest validation error. The test set is never used to choose.
    select: Literal["last", "best_val"] = "last"
    # stop after this many epochs without a better validation error; 0 turns it off
    early_stopping_patience: int = 0
    # inputs are scaled to [0, 1]; "standard" then subtracts the training mean and divides by std
    normalize: Literal["unit", "standard"] = "unit"
    # max-norm constraint on each unit's incoming weights (Srivastava et al. 2014); 0 = off
    max_norm: float = 0.0
    # on-device augmentation of each training batch, in order: crop, flip, affine
    augment: tuple[Literal["crop", "flip", "affine"], ...] = ()
    crop_pad: int = 4  # pixels of zero padding before the random crop
    # the eager path's arithmetic: "bf16" runs forward and loss under bf16 autocast (weights and
    # optimizer stay fp32); on CPUs with AVX512-BF16 or AMX it about halves an MLP's epoch
    precision: Literal["fp32", "bf16"] = "fp32"
    # NHWC activations for conv nets in the eager path; on the 2-core reference CPU it made no
    # measurable difference to LeNet-5's epoch (about 5 s either way), so no classic recipe uses it
    channels_last: bool = False
    # the CUDA fast path (device-resident uint8 data, bf16, channels_last, whole-step CUDA
    # graphs); used only on CUDA devices, the eager path is the reference everywhere else
    fast: bool = False
    # epochs_to_threshold: the first epoch whose training error (%) is at most this
    threshold: float = 0.0


@dataclass(frozen=True)
class Claim:
    name: str
    model: str
    paper: float | None = None  # the published value; None where the claim is an ordering only
    source: str = ""  # table or figure of the paper
    metric: str | None = None  # defaults to the landmark's metric
    # mean_within: mean within tolerance of the paper's value, or better.
    # all_at_most / all_at_least: every run on the right side of the paper's value (bounds).
    check: Literal["mean_within", "all_at_most", "all_at_least"] = "mean_within"
    tolerance: float | None = None  # defaults to the landmark's tolerance
    model_args: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    data_args: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    recipe: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # overrides of the landmark's recipe for this claim
    note: str = ""
    # the result does not depend on the seed (libsvm's SVC): run once, with the profile's first
    # seed, instead of repeating a long identical fit
    seed_independent: bool = False

    def seeds(self, profile_seeds: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(profile_seeds[:1]) if self.seed_independent else tuple(profile_seeds)


@dataclass(frozen=True)
class Ordering:
    """A claim that one model beats another: `claims` listed from worst to best on `metric`."""

    claims: tuple[str, ...]
    source: str = ""
    metric: str | None = None  # defaults to the landmark's metric
    # the paper's ratio of the first claim's value to the last one's (AlexNet Fig. 1: about 6);
    # the table then shows the measured ratio of the means beside it
    ratio: float | None = None


@dataclass(frozen=True)
class Profile:
    seeds: tuple[int, ...]
    recipe: Mapping[str, Any] = field(default_factory=lambda: EMPTY)  # overrides of the recipe under this profile
    # True when the budget is below the paper's: every table then says "reduced budget"
    reduced_budget: bool = False
    claims: tuple[str, ...] | None = None  # the claims this profile runs; all when absent
    note: str = ""


@dataclass(frozen=True)
class Landmark:
    id: str
    title: str
    citation: str
    url: str
    task: str
    metric: str
    claims: tuple[Claim, ...]
    profiles: Mapping[str, Profile]
    dataset: str | None = None
    tolerance: float = 0.0
    recipe: Recipe = field(default_factory=Recipe)
    orderings: tuple[Ordering, ...] = ()
    notes: str = ""
    path: str = field(default="", init=False)  # the file it came from, set by the loader

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
        wanted = self.profile(profile).claims
        return self.claims if wanted is None else tuple(self.claim(n) for n in wanted)

    def metric_of(self, claim: Claim) -> str:
        return claim.metric or self.metric

    def tolerance_of(self, claim: Claim) -> float:
        return self.tolerance if claim.tolerance is None else claim.tolerance


def deep_merge(base: Mapping[str, Any], *overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(to_plain(base))
    for over in overrides:
        for key, value in to_plain(over).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = deep_merge(out[key], value)
            else:
                out[key] = value
    return out


def resolve_recipe(lm: Landmark, claim: Claim, profile: str) -> Recipe:
    """The recipe one run uses: the landmark's, then the claim's overrides, then the profile's."""
    merged = deep_merge(lm.recipe, claim.recipe, lm.profile(profile).recipe)
    return build(Recipe, merged, lm.path, "recipe (resolved for claim " + claim.name + ")")


def _validate(lm: Landmark, path: Path) -> None:
    from landmarks.data import DATASETS
    from landmarks.estimators import ESTIMATORS
    from landmarks.metrics import METRICS
    from landmarks.models import MODELS
    from landmarks.tasks import TASKS

    def fail(fld: str, msg: str) -> ConfigError:
        return ConfigError(f"{path}: field '{fld}': {msg}")

    if lm.id != path.stem:
        raise fail("id", f"{lm.id!r} must equal the file name {path.stem!r}")
    if lm.task not in TASKS:
        raise fail("task", f"unknown task {lm.task!r}; known: {', '.join(TASKS.names())}")
    if lm.dataset is not None and lm.dataset not in DATASETS:
        raise fail("dataset", f"unknown dataset {lm.dataset!r}; known: {', '.join(DATASETS.names())}")
    if lm.metric not in METRICS:
        raise fail("metric", f"unknown metric {lm.metric!r}; known: {', '.join(METRICS.names())}")
    if not lm.claims:
        raise fail("claims", "at least one claim is needed")
    names = [c.name for c in lm.claims]
    kinds = ESTIMATORS if lm.task == "estimator" else MODELS  # scikit-learn baselines are not torch models
    for i, c in enumerate(lm.claims):
        if names.count(c.name) > 1:
            raise fail(f"claims[{i}].name", f"{c.name!r} is used twice")
        if c.model not in kinds:
            raise fail(f"claims[{i}].model", f"unknown {kinds.kind} {c.model!r}; known: {', '.join(kinds.names())}")
        if c.metric is not None and c.metric not in METRICS:
            raise fail(f"claims[{i}].metric", f"unknown metric {c.metric!r}; known: {', '.join(METRICS.names())}")
    for i, o in enumerate(lm.orderings):
        if o.metric is not None and o.metric not in METRICS:
            raise fail(f"orderings[{i}].metric", f"unknown metric {o.metric!r}; known: {', '.join(METRICS.names())}")
        for j, n in enumerate(o.claims):
            if n not in names:
                raise fail(f"orderings[{i}].claims[{j}]", f"no claim named {n!r}")
    if not lm.profiles:
        raise fail("profiles", f"at least one profile is needed ({', '.join(PROFILES)})")
    for pname, prof in lm.profiles.items():
        if pname not in PROFILES:
            raise fail(f"profiles.{pname}", f"unknown profile; known: {', '.join(PROFILES)}")
        if not prof.seeds:
            raise fail(f"profiles.{pname}.seeds", "at least one seed is needed")
        for j, n in enumerate(prof.claims or ()):
            if n not in names:
                raise fail(f"profiles.{pname}.claims[{j}]", f"no claim named {n!r}")
        for c in lm.claims_for(pname):
            resolve_recipe(lm, c, pname)  # every override must still give a valid recipe


def load_landmark(path: Path) -> Landmark:
    data = read_yaml(path)
    lm = build(Landmark, data, str(path))
    object.__setattr__(lm, "path", str(path))
    _validate(lm, path)
    return lm


def load_catalog(directory: Path | str = "benchmarks") -> dict[str, Landmark]:
    directory = Path(directory)
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise ConfigError(f"{directory}: no catalog files (*.yaml) found; run from the project root")
    return {lm.id: lm for lm in map(load_landmark, files)}


def get_landmark(catalog: Mapping[str, Landmark], landmark_id: str) -> Landmark:
    if landmark_id not in catalog:
        raise ConfigError(f"unknown landmark {landmark_id!r}; known: {', '.join(sorted(catalog))}")
    return catalog[landmark_id]
