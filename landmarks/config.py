"""params.yaml: one section per stage, read into strict, frozen models.

    profile: quick                # quick | classic | paper | imagenet
    datasets: {digits: {code: landmarks/data/digits.py}}  # the fetch and prepare stages of dvc.yaml
    landmarks: {digits-linear-mlp-cnn: {data: digits}}  # train stages on a dataset
    generated: [xor-backprop]     # train stages on generated data
    train: {device: auto, deterministic: false, checkpoint: {every_seconds: 300}}
    data: {mirror: ""}
    tracking: {uri: ""}
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Mapping

import yaml
from pydantic import Field

from landmarks.catalog import PROFILE_NAME, Landmark, check_profile, profile_names
from landmarks.errors import ConfigError
from landmarks.files import write_atomic
from landmarks.schema import Strict, read_yaml, validate


class CheckpointPolicy(Strict):
    dir: Path = Path("checkpoints")  # one folder per (profile, landmark) while it is unfinished
    every_steps: int = 0  # 0: by time only
    every_seconds: float = 300.0
    # auto: resume a matching checkpoint, start over (setting the old one aside) when the recipe
    # changed; always: refuse to start over (what --resume asks); never: ignore checkpoints (--restart)
    resume: Literal["auto", "always", "never"] = "auto"
    # each finished run of these profiles also leaves a small record (row, curve, identity; no
    # weights) in <keep_dir>/<profile>/<landmark>/ that nothing removes: commit it, and a fresh clone
    # takes those runs instead of training them again (for profiles whose runs take hours)
    keep_dir: Path = Path("runs")
    keep_profiles: tuple[str, ...] = ("paper", "atari-cpu")


class TrainParams(Strict):
    device: str = "auto"  # auto: CUDA when there is one, else the CPU
    deterministic: bool = False  # bit-for-bit repeatable runs (slower on GPUs)
    verbose: bool = False  # one line per epoch
    # processes per node (torchrun, one GPU each where there are GPUs): a `parallel: data` run is
    # trained by all of them, other runs are dealt out among them. `--nproc-per-node N` overrides it
    processes: int = Field(1, ge=1)
    checkpoint: CheckpointPolicy = Field(default_factory=CheckpointPolicy)


class DataParams(Strict):
    # a folder or http(s) URL laid out as <mirror>/<dataset>/<file>; LANDMARKS_DATA_MIRROR wins
    mirror: str = ""
    dir: str = "data"
    imagenet: str = ""  # root of your ImageNet copy; LANDMARKS_IMAGENET wins
    # accept an ImageNet tree that is not the full release (some classes or images, for a course or
    # a smoke test); `prepare` refuses one otherwise, and results trained on it are marked subset
    imagenet_subset: bool = False


class TrackingParams(Strict):
    # an MLflow tracking URI; empty: sqlite:///mlflow.db in the project. MLFLOW_TRACKING_URI wins.
    uri: str = ""
    enabled: bool = True


class StageItem(Strict):
    data: str  # the landmark's dataset: its train stage depends on data/prepared/<data>


class DatasetItem(Strict):
    code: str  # the file that registers the dataset: its fetch and prepare stages depend on it


class Params(Strict):
    profile: str = "quick"
    datasets: Mapping[str, DatasetItem] = Field(default_factory=dict)  # fetch and prepare stages, by name
    landmarks: Mapping[str, StageItem] = Field(default_factory=dict)  # train stages on datasets, by id
    generated: tuple[str, ...] = ()  # train stages on generated data
    train: TrainParams = Field(default_factory=TrainParams)
    data: DataParams = Field(default_factory=DataParams)
    tracking: TrackingParams = Field(default_factory=TrackingParams)


def load_params(path: Path | str = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        return Params()
    params = validate(Params, read_yaml(path) or {}, str(path))
    if not PROFILE_NAME.match(params.profile):  # whether a catalog file declares it is checked where it is used
        raise ConfigError(f"{path}: field 'profile': {params.profile!r} is not a profile name (lower-case letters, "
                          "digits and '-'); `landmarks use <profile>` writes it")
    return params


def dataset_code(name: str) -> str:
    """The project-relative file that registers dataset `name` (landmarks/data/mnist.py)."""
    import sys

    from landmarks.data import DATASETS

    spec = DATASETS.get(name)
    module = sys.modules[spec.decode.__module__] if spec.decode else None
    return f"landmarks/data/{Path(module.__file__).name}" if module and module.__file__ else "landmarks/data"


def pipeline_lists(catalog: Mapping[str, Landmark], profile: str) -> dict:
    """The params.yaml lists that make dvc.yaml run every landmark of `profile`."""
    chosen = [lm for lm in catalog.values() if profile in lm.profiles]
    return {
        "profile": profile,
        # each dataset with the file that defines it: its fetch and prepare stages depend on it alone
        "datasets": {name: {"code": dataset_code(name)} for name in sorted({lm.dataset for lm in chosen if lm.dataset})},
        "landmarks": {lm.id: {"data": lm.dataset} for lm in chosen if lm.dataset},
        "generated": [lm.id for lm in chosen if not lm.dataset],
    }


def use_profile(path: Path, catalog: Mapping[str, Landmark], profile: str) -> dict:
    """Rewrite params.yaml's pipeline lists for `profile`, keeping every other setting."""
    check_profile(catalog, profile, "use")
    lists = pipeline_lists(catalog, profile)
    if not lists["landmarks"] and not lists["generated"]:
        having = [p for p in profile_names(catalog) if any(p in lm.profiles for lm in catalog.values())]
        raise ConfigError(f"no landmark in the catalog has a {profile!r} profile yet, so `dvc repro` would have nothing "
                          f"to run; profiles with landmarks: {', '.join(having)}")
    if path.exists():  # refuse to rewrite a file whose other settings are wrong (the lists are replaced)
        current = read_yaml(path) or {}
        if isinstance(current, dict):
            validate(Params, {k: v for k, v in current.items() if k not in lists}, str(path))
    lines = (path.read_text(encoding="utf-8") if path.exists() else "").splitlines()
    n_head = next((i for i, ln in enumerate(lines) if not ln.startswith("#")), len(lines))
    # keep the leading comment and every other setting; drop the old blocks of these keys (a
    # top-level key line and the indented, list or comment lines under it)
    kept, skipping = [], False
    for line in lines[n_head:]:
        if line[:1] not in (" ", "-", "#", "") and ":" in line:
            skipping = line.split(":", 1)[0].strip() in lists
        if not skipping:
            kept.append(line)
    write_atomic(path, "\n".join(lines[:n_head] + [yaml.safe_dump(lists, sort_keys=False).rstrip("\n")] + kept) + "\n")
    return lists
