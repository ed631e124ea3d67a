"""params.yaml: one section per stage, read into typed, strict dataclasses.

    profile: quick                # quick | classic | paper | imagenet
    landmarks: [xor-backprop, ...] # what `dvc repro` trains (the stages of dvc.yaml)
    train: {device: auto, deterministic: false}
    data: {mirror: ""}
    tracking: {uri: ""}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from landmarks.catalog import PROFILES
from landmarks.errors import ConfigError
from landmarks.strict import build, read_yaml


@dataclass(frozen=True)
class TrainParams:
    device: str = "auto"  # auto: CUDA when there is one, else the CPU
    deterministic: bool = False  # bit-for-bit repeatable runs (slower on GPUs)
    verbose: bool = False  # one line per epoch


@dataclass(frozen=True)
class DataParams:
    # a folder or http(s) URL laid out as <mirror>/<dataset>/<file>; LANDMARKS_DATA_MIRROR wins
    mirror: str = ""
    dir: str = "data"


@dataclass(frozen=True)
class TrackingParams:
    # an MLflow tracking URI; empty: sqlite:///mlflow.db in the project. MLFLOW_TRACKING_URI wins.
    uri: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Params:
    profile: str = "quick"
    landmarks: tuple[str, ...] = ()
    train: TrainParams = field(default_factory=TrainParams)
    data: DataParams = field(default_factory=DataParams)
    tracking: TrackingParams = field(default_factory=TrackingParams)


def load_params(path: Path | str = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        return Params()
    params = build(Params, read_yaml(path) or {}, str(path))
    if params.profile not in PROFILES:
        raise ConfigError(f"{path}: field 'profile': unknown profile {params.profile!r}; known: {', '.join(PROFILES)}")
    return params
