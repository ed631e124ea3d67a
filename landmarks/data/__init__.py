"""Datasets: the registry (`registry`), fetching (`fetch`, `content`), decoding (`formats`),
the prepared on-disk format (`prepare`) and device-resident tensors (`loaders`), with one file
per dataset family (digits, mnist, cifar10, imagenet) that registers its specs.

Prepared data is a fixed format, written once by `landmarks prepare` and only read by training:
uint8 images (N, H, W, C) and int64 labels per split, as .npy files loaded without pickle, with a
manifest of content hashes (see `landmarks.data.prepare`).
"""

from landmarks.data.registry import DATASETS, Arrays, DatasetSpec, Splits, arrays_hash, register_dataset
from landmarks.data import cifar10, digits, imagenet, mnist  # noqa: E402,F401,I001  (registers the datasets)

__all__ = ["DATASETS", "Arrays", "DatasetSpec", "Splits", "arrays_hash", "register_dataset"]
