"""The catalog checked against the registries of code, before anything runs.

    landmarks check          # every file of the catalog; exit 2 with file, claim and field

Loading a catalog file (`landmarks.catalog`) checks its shape; this step checks that what it
names exists: its task, dataset and metrics, each claim's model (or scikit-learn estimator), and
each claim's `model_args`, bound to the builder's signature, type-checked against its annotations,
and the model built and run once on the meta device (no memory, no arithmetic) at the input
shape of the landmark's dataset. Every command that trains, reports or writes params calls it.
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any, Callable, Mapping

import torch
from pydantic import TypeAdapter, ValidationError

from landmarks.catalog import Claim, Landmark, resolve_recipe
from landmarks.data import DATASETS
from landmarks.errors import ConfigError
from landmarks.estimators import ESTIMATORS
from landmarks.metrics import METRICS
from landmarks.models import MODELS
from landmarks.judging.tolerance import tolerance_for
from landmarks.registry import Registry
from landmarks.stats import binomial_floor, rounding_half_unit
from landmarks.tasks import TASKS


def check_catalog(catalog: Mapping[str, Landmark]) -> None:
    for lm in catalog.values():
        check_landmark(lm)


def _known(registry: Registry, name: str) -> str:
    return f"unknown {registry.kind} {name!r}; known: {', '.join(registry.names())}"


def check_landmark(lm: Landmark) -> None:
    def fail(fld: str, msg: str, claim: Claim | None = None) -> ConfigError:
        where = f"{lm.path}: claim {claim.name!r}: " if claim else f"{lm.path}: "
        return ConfigError(f"{where}field '{fld}': {msg}")

    if lm.task not in TASKS:
        raise fail("task", _known(TASKS, lm.task))
    task = TASKS.get(lm.task)
    if lm.dataset is not None and lm.dataset not in DATASETS:
        raise fail("dataset", _known(DATASETS, lm.dataset))
    if "quick" in lm.profiles and lm.dataset is not None and DATASETS.get(lm.dataset).source != "bundled":
        # quick is the profile that runs anywhere, offline, in minutes: `make reproduce` by default
        raise fail("profiles.quick", f"the quick profile runs offline, but dataset {lm.dataset!r} must be "
                   f"{'downloaded' if DATASETS.get(lm.dataset).source == 'download' else 'supplied by the user'}; "
                   "put this landmark in another profile (classic, or one of its own)")
    if lm.dataset is None and task.inputs is None:
        raise fail("dataset", f"task {lm.task!r} trains on a dataset; name one ({', '.join(DATASETS.names())})")
    for fld, metric in [("metric", lm.metric)] + [(f"orderings[{i}].metric", o.metric) for i, o in enumerate(lm.orderings)]:
        if metric is not None and metric not in METRICS:
            raise fail(fld, _known(METRICS, metric))
    for j, ref in enumerate(lm.references):
        for key in ref.values:
            if key not in METRICS:
                raise fail(f"references[{j}].values.{key}", _known(METRICS, key))
    kinds = ESTIMATORS if task.models == "estimator" else MODELS
    for i, claim in enumerate(lm.claims):
        if claim.metric is not None and claim.metric not in METRICS:
            raise fail(f"claims[{i}].metric", _known(METRICS, claim.metric), claim)
        tolerance, rule = tolerance_for(lm, claim)
        if claim.paper is not None and claim.check == "mean_within" and tolerance is None:
            raise fail(f"claims[{i}].tolerance", rule + "; state `tolerance` and "
                       "`tolerance_reason`, or the paper's `paper_spread`", claim)
        for key in claim.also:
            if key not in METRICS:
                raise fail(f"claims[{i}].also.{key}", _known(METRICS, key), claim)
            tolerance, rule = tolerance_for(lm, claim, also=key)
            if claim.check == "mean_within" and tolerance is None:
                raise fail(f"claims[{i}].also.{key}", rule + " (a value in `also` takes the test set's rule; "
                           "a stated `tolerance` or `paper_spread` is for `paper` alone)", claim)
        nets = [(f"claims[{i}]", claim)] + [(f"profiles.{p}.overrides.{claim.name}", lm.claim_in(claim.name, p))
                                             for p, prof in lm.profiles.items() if claim.name in prof.overrides]
        for where, net in nets:
            _check_model(lm, task, kinds, where, net, fail)
        for profile in lm.profiles if task.check_recipe else ():
            if claim.name in {c.name for c in lm.claims_for(profile)} and (
                    problem := task.check_recipe(resolve_recipe(lm, claim, profile))):
                fld, msg = problem
                raise fail(f"recipe.{fld}", f"{msg} (as resolved for profile {profile!r})", claim)


def _check_model(lm: Landmark, task: Any, kinds: Registry, where: str, claim: Claim, fail: Callable) -> None:
    """The claim's model (as the catalog names it at `where`) registered, its arguments bound."""
    if claim.model not in kinds:
        raise fail(f"{where}.model", _known(kinds, claim.model), claim)
    builder = kinds.get(claim.model)
    if task.models == "estimator":
        problem = _estimator_problem(builder, claim.model_args)
    else:
        problem = _model_problem(builder, claim.model, claim.model_args, *model_inputs(lm, claim))
    if problem:
        fld, msg = problem
        raise fail(f"{where}.model_args{'.' + fld if fld else ''}", msg, claim)


def model_inputs(lm: Landmark, claim: Claim) -> tuple[tuple[int, ...], int]:
    """(input shape, number of classes) that a claim's model is built for: the task's, for
    generated data, else the landmark's dataset's."""
    task = TASKS.get(lm.task)
    if task.inputs is not None:
        return task.inputs(lm, claim)
    spec = DATASETS.get(lm.dataset)
    return spec.shape, spec.num_classes


def _model_problem(builder: Any, name: str, args: Mapping[str, Any], in_shape: tuple[int, ...],
                   classes: int) -> tuple[str, str] | None:
    """(argument, what is wrong) for model_args the builder would refuse, or None."""
    sig = inspect.signature(builder)
    takes = [p.name for p in list(sig.parameters.values())[2:]]  # after in_shape and num_classes
    hints = typing.get_type_hints(builder)
    for key, value in args.items():
        if key not in takes:
            return key, f"unknown argument of model {name!r}; it takes: {', '.join(takes) or 'no arguments'}"
        if key in hints:
            try:
                TypeAdapter(hints[key]).validate_json(json.dumps(value), strict=True)
            except ValidationError as exc:
                return key, f"{exc.errors()[0]['msg'].lower()} (the builder's type is {_type_name(hints[key])}), got {value!r}"
    try:
        with torch.device("meta"):
            model = builder(tuple(in_shape), classes, **args)
            model(torch.empty(2, *in_shape))
    except (TypeError, ValueError, RuntimeError, IndexError) as exc:
        return "", f"model {name!r} cannot be built with {dict(args)} for inputs of shape {tuple(in_shape)}: {exc}"
    return None


def _estimator_problem(builder: Any, args: Mapping[str, Any]) -> tuple[str, str] | None:
    try:
        est = builder(0, **args)
        # scikit-learn checks parameter types at fit; its validator says the same now
        if hasattr(est, "_validate_params"):
            est._validate_params()
    except (TypeError, ValueError) as exc:
        return "", str(exc).splitlines()[0]
    return None


def _type_name(tp: Any) -> str:
    if typing.get_args(tp):  # Sequence[int], not Sequence
        return str(tp).replace("typing.", "").replace("collections.abc.", "")
    return getattr(tp, "__name__", str(tp))
