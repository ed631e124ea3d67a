"""MNIST (LeCun, Cortes, Burges) and Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): IDX files, gzip.

Content hashes are the sha256 of the decompressed IDX files, equal to the published ones; the
md5 values are the checksums of the original .gz containers, kept for information only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landmarks.data.registry import Arrays, DatasetSpec, register_dataset
from landmarks.data.content import read_content
from landmarks.data.fetch import RemoteFile
from landmarks.data.formats import read_idx

PARTS = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
# bytes of each IDX file, the same for both datasets: a 16-byte header and 60,000 (10,000) images
# of 28x28; an 8-byte header and a byte per label
SIZES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}


def idx_files(bases: tuple[str, ...], hashes: dict[str, str], md5s: dict[str, str]) -> tuple[RemoteFile, ...]:
    return tuple(
        RemoteFile(
            name=f"{stem}.gz",
            urls=tuple(f"{base}{stem}.gz" for base in bases),
            content={"": hashes[stem]},
            md5=md5s.get(stem, ""),
            sizes={"": SIZES[stem]},
        )
        for stem in PARTS.values()
    )


def decode_idx(files: dict[str, Path]) -> Arrays:
    out: Arrays = {}
    for key, stem in PARTS.items():
        arr = read_idx(read_content(files[f"{stem}.gz"]), f"{stem}.gz")
        out[key] = arr[..., None] if key.endswith("_x") else arr.astype(np.int64)
    return out


MNIST_FILES = idx_files(
    ("https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    {
        "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
    },
)

FASHION_FILES = idx_files(
    (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    ),
    {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    {
        "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
    },
)

register_dataset(DatasetSpec("mnist", "MNIST handwritten digits, 28x28 grey, 60k/10k", 10, 255, "download", MNIST_FILES, decode_idx,
                             (1, 28, 28), test_images=10_000, train_images=60_000))
register_dataset(DatasetSpec("fashion-mnist", "Fashion-MNIST clothing, 28x28 grey, 60k/10k", 10, 255, "download", FASHION_FILES,
                             decode_idx, (1, 28, 28), test_images=10_000, train_images=60_000))
