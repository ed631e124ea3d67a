"""Generated dataset files for the data tests: tar archives and CIFAR-10 binary batches (a helper
module, like httpserver.py; no tests here)."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import uuid

import numpy as np

from landmarks.data.cifar10 import FOLDER, decode_cifar10
from landmarks.data.fetch import RemoteFile
from landmarks.data.formats import write_cifar_binary
from landmarks.data.registry import DatasetSpec, register_dataset


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], compress=gzip.compress) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return compress(buf.getvalue())


def cifar_archive(seed: int, n: int = 30) -> tuple[dict[str, bytes], dict[str, list[np.ndarray]]]:
    """The members of a CIFAR-10 binary release with n random images per batch, and the arrays."""
    rng = np.random.default_rng(seed)
    members, arrays = {}, {"x": [], "y": []}
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        x = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
        y = rng.integers(0, 10, n)
        members[f"{FOLDER}/{name}"] = write_cifar_binary(x, y)
        arrays["x"].append(x)
        arrays["y"].append(y)
    members[f"{FOLDER}/batches.meta.txt"] = b"airplane\nautomobile\n"
    return members, arrays


def register_generated_cifar(members: dict[str, bytes]) -> tuple[str, RemoteFile]:
    """A dataset in the registry whose content hashes are those of the generated batches; mirrors
    may hold it re-packed as .tar.xz."""
    rf = RemoteFile("cifar-10-binary.tar.gz", (), {k: sha(v) for k, v in members.items() if k.endswith(".bin")},
                    archive=True, alternates=("cifar-10-binary.tar.xz",))
    name = f"gen-cifar-{uuid.uuid4().hex[:8]}"
    register_dataset(DatasetSpec(name, "generated CIFAR", 10, 255, "download", (rf,), decode_cifar10, (3, 32, 32)))
    return name, rf
