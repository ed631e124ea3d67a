"""The dataset registry: names map to specs that say where each dataset comes from, how to read
it and what shape its images have; and `Splits`, the prepared arrays training reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import numpy as np

from landmarks.data.fetch import KNOWN_FILES, RemoteFile
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


Arrays = dict[str, np.ndarray]  # train_x, train_y, test_x, test_y


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
    num_classes: int
    max_value: int
    # download: files fetched from URLs and mirrors; bundled: shipped with a package;
    # user: supplied by the user (ImageNet), never downloaded
    source: Literal["download", "bundled", "user"]
    files: tuple[RemoteFile, ...]
    # reads the verified raw files ({publisher's file name: local path}) into Arrays
    decode: Callable[[dict[str, Path]], Arrays] | None
    shape: tuple[int, int, int]  # (C, H, W) of the images a model reads: the catalog check builds at it
    test_images: int = 0  # size of the test set (the tolerance rule's binomial noise); 0: varies
    train_images: int = 0  # size of the training set as released (`landmarks plan` before `prepare`); 0: varies


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.register(spec.name)(spec)
    KNOWN_FILES.extend((spec.name, rf) for rf in spec.files)
    return spec
