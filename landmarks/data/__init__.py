"""Dataset registry: names map to specs that say how to get and read each dataset.

Prepared data is a fixed format, uint8 images (N, H, W, C) and int64 labels per split; training
only reads it (see `landmarks.data.loaders`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from landmarks.registry import Registry


@dataclass(frozen=True)
class Splits:
    name: str
    train_x: np.ndarray  # uint8, (N, H, W, C)
    train_y: np.ndarray  # int64, (N,)
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    max_value: int  # the largest pixel value the format allows (16 for digits, 255 for images)
    content_hash: str  # sha256 over the arrays: what a run records as its data hash

    @property
    def in_shape(self) -> tuple[int, int, int]:
        _, h, w, c = self.train_x.shape
        return (c, h, w)


def arrays_hash(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    load: Callable[[Path], Splits]  # reads the prepared data under the data folder


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.register(spec.name)(spec)
    return spec


def load_splits(name: str, data_dir: Path | str = "data") -> Splits:
    return DATASETS.get(name).load(Path(data_dir))


from landmarks.data import digits  # noqa: E402,F401  (registers)
