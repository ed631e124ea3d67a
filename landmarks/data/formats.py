"""File formats: IDX (MNIST, Fashion-MNIST) and the CIFAR-10 binary release.

The CIFAR-10 *binary* release is read record by record (1 label byte, then 1024 red, 1024 green
and 1024 blue bytes of a 32x32 image); the Python-pickle release is never loaded.
"""

from __future__ import annotations

import numpy as np

from landmarks.errors import DataError

IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CIFAR_RECORD = 1 + 32 * 32 * 3


def read_idx(data: bytes, name: str = "IDX file") -> np.ndarray:
    """Parse an IDX file: magic (0, 0, type, ndim), ndim big-endian uint32 sizes, then the values."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{name}: not an IDX file (magic bytes {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: IDX header cut short")
    shape = tuple(int(d) for d in np.frombuffer(data[4:header], dtype=">u4"))
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"{name}: IDX body has {len(data) - header} bytes, shape {shape} needs {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def write_idx(array: np.ndarray) -> bytes:
    """The inverse of read_idx, for uint8 arrays (used to build test files)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return header + array.tobytes()


def read_cifar_binary(data: bytes, name: str = "CIFAR batch") -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 from one binary batch file."""
    if len(data) == 0 or len(data) % CIFAR_RECORD:
        raise DataError(f"{name}: {len(data)} bytes is not a whole number of {CIFAR_RECORD}-byte records")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{name}: label {labels.max()} out of range 0..9")
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def write_cifar_binary(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The inverse of read_cifar_binary (used to build test files)."""
    planes = np.ascontiguousarray(images, dtype=np.uint8).transpose(0, 3, 1, 2).reshape(len(images), -1)
    return np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], planes], axis=1).tobytes()
