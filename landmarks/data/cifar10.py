"""CIFAR-10 (Krizhevsky 2009) from its binary release: five training batches and a test batch of
10,000 records each. Read straight from the archive (any compression), never unpickled."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landmarks.data.registry import Arrays, DatasetSpec, register_dataset
from landmarks.data.content import iter_members
from landmarks.data.fetch import RemoteFile
from landmarks.data.formats import read_cifar_binary

FOLDER = "cifar-10-batches-bin"
TRAIN = tuple(f"{FOLDER}/data_batch_{i}.bin" for i in range(1, 6))
TEST = f"{FOLDER}/test_batch.bin"

CIFAR10_ARCHIVE = RemoteFile(
    name="cifar-10-binary.tar.gz",
    urls=("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",),
    content={
        f"{FOLDER}/data_batch_1.bin": "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
        f"{FOLDER}/data_batch_2.bin": "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
        f"{FOLDER}/data_batch_3.bin": "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
        f"{FOLDER}/data_batch_4.bin": "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
        f"{FOLDER}/data_batch_5.bin": "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
        f"{FOLDER}/test_batch.bin": "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
    },
    archive=True,
    md5="c32a1d4ab5d03f1284b67883e8d87530",
    alternates=("cifar-10-binary.tar.xz", "cifar-10-binary.tar.bz2", "cifar-10-binary.tar"),
    sizes={name: 10_000 * (1 + 32 * 32 * 3) for name in (*TRAIN, TEST)},  # records of a label byte and a 3x32x32 image
)


def decode_cifar10(files: dict[str, Path]) -> Arrays:
    path = files[CIFAR10_ARCHIVE.name]
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for member, stream in iter_members(path):
        if stream is not None and member.name in (*TRAIN, TEST):
            batches[member.name] = read_cifar_binary(stream.read(), member.name)
    train = [batches[n] for n in TRAIN]
    return {
        "train_x": np.concatenate([x for x, _ in train]),
        "train_y": np.concatenate([y for _, y in train]),
        "test_x": batches[TEST][0],
        "test_y": batches[TEST][1],
    }


register_dataset(
    DatasetSpec("cifar-10", "CIFAR-10, 32x32 colour, 50k/10k (binary release)", 10, 255, "download", (CIFAR10_ARCHIVE,), decode_cifar10,
                (3, 32, 32), test_images=10_000, train_images=50_000)
)
