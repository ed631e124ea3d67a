"""Data files that broke `verify` and `train`: a decompression bomb in a dataset's slot (hashed
whole, twice, before it was refused), prepared arrays cut short, emptied or with their header
overwritten (a traceback). Real processes on real files."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent
LANDMARK = "digits-linear-mlp-cnn"
MNIST_TRAIN_IMAGES = 16 + 60_000 * 28 * 28  # bytes of train-images-idx3-ubyte: its header and 60,000 images


def landmarks(ws: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "landmarks"), *args], cwd=ws, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def zeros_gzip(size: int, piece: int = 16 << 20) -> bytes:
    """A gzip file of `size` zero bytes (a multiple of `piece`), as concatenated members: 1 GiB in
    about 1 MB, built without compressing a gigabyte."""
    return gzip.compress(bytes(piece), 9) * (size // piece)


def tar_gzip_bomb(member: str, size: int) -> bytes:
    """A .tar.gz whose first member holds `size` zero bytes: a tar header, then the zeros as
    gzip members, then the end of the archive."""
    header = tarfile.TarInfo(member)
    header.size = size
    head = header.tobuf(format=tarfile.GNU_FORMAT)
    return gzip.compress(head) + zeros_gzip(size) + gzip.compress(bytes(1024))


def test_a_decompression_bomb_is_cut_off_at_the_size_the_file_should_have(tmp_path):
    """Before, a bomb in MNIST's train-images slot was decompressed and hashed whole, then again to
    name the file (20 GiB: 11 minutes). Here 1 GiB: reading now stops one byte past the 47,040,016
    bytes the file has, and an archive's stream past its members' sizes (CIFAR-10's 184 MB)."""
    raw = tmp_path / "data" / "raw"
    (raw / "mnist").mkdir(parents=True)
    (raw / "cifar-10").mkdir()
    (raw / "mnist" / "train-images-idx3-ubyte.gz").write_bytes(zeros_gzip(1 << 30))
    (raw / "cifar-10" / "cifar-10-binary.tar.gz").write_bytes(tar_gzip_bomb("cifar-10-batches-bin/readme.html", 1 << 30))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(tmp_path / "data")}}))
    out = landmarks(tmp_path, "verify", "mnist", "cifar-10")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    problems = {line.split(":")[0].strip(): line for line in out.stdout.splitlines() if "PROBLEM" in line}
    mnist = problems["PROBLEM mnist/train-images-idx3-ubyte.gz"]
    assert f"holds more than the {MNIST_TRAIN_IMAGES:,} bytes train-images-idx3-ubyte.gz has once decompressed" in mnist
    read = int(re.search(r"reading stopped after ([\d,]+) bytes", mnist).group(1).replace(",", ""))
    assert MNIST_TRAIN_IMAGES < read <= MNIST_TRAIN_IMAGES + (1 << 20), mnist
    cifar = problems["PROBLEM cifar-10/cifar-10-binary.tar.gz"]
    read = int(re.search(r"reading stopped after ([\d,]+) bytes", cifar).group(1).replace(",", ""))
    assert read <= 6 * 30_730_000 + (2 << 20), cifar  # the six batches and the slack, not the gigabyte


def test_a_tar_member_of_the_wrong_size_is_refused_before_it_is_read(tmp_path):
    """A batch whose header declares 1 GiB: refused from the header, nothing of it decompressed."""
    from landmarks.data.cifar10 import CIFAR10_ARCHIVE
    from landmarks.data.fetch import verify
    from landmarks.errors import DataError

    path = tmp_path / "cifar-10-binary.tar.gz"
    path.write_bytes(tar_gzip_bomb("cifar-10-batches-bin/data_batch_1.bin", 1 << 30))
    with pytest.raises(DataError, match=r"'cifar-10-batches-bin/data_batch_1.bin' holds 1,073,741,824 bytes, "
                                        r"30,730,000 in the release"):
        verify(path, CIFAR10_ARCHIVE)


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1000])


def _header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[10:60] = b"x" * 50  # inside the header's dict: numpy can no longer parse it
    path.write_bytes(bytes(data))


def _emptied(path: Path) -> None:
    path.write_bytes(b"")


@pytest.mark.parametrize("damage,array", [(_cut, "train_x"), (_header, "train_x"), (_emptied, "train_y")])
def test_a_damaged_prepared_array_is_refused_like_a_changed_one(tmp_path, digits_dir, damage, array):
    """Before: `ValueError: mmap length is greater than file size`, a pickle ValueError or an
    EOFError, with a traceback, from `train` and from `verify`."""
    data = tmp_path / "data"
    shutil.copytree(digits_dir, data)
    target = data / "prepared" / "digits" / f"{array}.npy"
    damage(target)
    before = target.read_bytes()
    ws = tmp_path / "ws"
    shutil.copytree(Path(__file__).resolve().parents[1] / "benchmarks", ws / "benchmarks")
    (ws / "params.yaml").write_text(yaml.safe_dump({"data": {"dir": str(data)}}))
    out = landmarks(ws, "train", LANDMARK, "--no-tracking")
    assert out.returncode == 3 and "Traceback" not in out.stderr, out.stderr
    assert f"{target}: damaged, not a whole .npy array" in out.stderr and "landmarks prepare digits" in out.stderr
    assert not list((ws / "models").rglob("*.json")) and target.read_bytes() == before  # nothing written, nothing removed
    out = landmarks(ws, "verify", "digits")
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"PROBLEM digits: {target}: damaged, not a whole .npy array" in out.stdout, out.stdout
