"""A small ImageNet-shaped tree of real JPEG files, in the layouts users have (a helper module, not a test).

Each class has its own colour, plus noise, so a net can learn something in an epoch. The devkit is
written in the official format: data/meta.mat (the synsets, leaves with num_children 0, numbered
by ILSVRC2012_ID) and data/ILSVRC2012_validation_ground_truth.txt (one ID per validation image,
in file-name order). The IDs are deliberately not in WordNet-id order, as in the real devkit.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import numpy as np
import torch
from torchvision.io import encode_jpeg

WNIDS = tuple(f"n0{1440764 + 7919 * i:07d}" for i in range(1000))  # as many classes as ImageNet


def jpeg(colour: int, rng: np.random.Generator, size: tuple[int, int]) -> bytes:
    h, w = size
    img = rng.integers(0, 80, (3, h, w), dtype=np.uint8)
    img[colour % 3] += 150
    img[:, : h // 3 * (1 + colour // 3 % 3), : w // 4] = 255  # a bright band whose height says the class
    return encode_jpeg(torch.from_numpy(img), quality=90).numpy().tobytes()


def make_tree(root: Path, layout: str = "folders", classes: int = 10, train: int = 6, val: int = 3,
              size: tuple[int, int] = (40, 52), devkit: str = "folder", seed: int = 0) -> dict:
    """Write the tree; returns {"val": [(file name, wnid)] in file-name order, "wnids": [...]}."""
    rng = np.random.default_rng(seed)
    wnids = WNIDS[:classes]
    for c, wnid in enumerate(wnids):
        folder = root / "train" / wnid
        folder.mkdir(parents=True)
        for i in range(train):
            (folder / f"{wnid}_{i}.JPEG").write_bytes(jpeg(c, rng, size))
    # validation images in a shuffled class order, as in the release
    order = rng.permutation([c for c in range(classes) for _ in range(val)])
    listing = []
    for i, c in enumerate(order, 1):
        name = f"ILSVRC2012_val_{i:08d}.JPEG"
        folder = root / "val" / (wnids[c] if layout == "folders" else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(jpeg(int(c), rng, size))
        listing.append((name, wnids[c]))
    if layout == "official":
        write_devkit(root, wnids, [w for _, w in listing], devkit)
    return {"val": listing, "wnids": list(wnids)}


def devkit_ids(wnids: tuple[str, ...]) -> dict[str, int]:
    """The devkit's ILSVRC2012_ID of each class: reversed WordNet-id order."""
    return {w: len(wnids) - i for i, w in enumerate(wnids)}


def write_devkit(root: Path, wnids: tuple[str, ...], val_wnids: list[str], form: str = "folder") -> None:
    import scipy.io

    ids = devkit_ids(wnids)
    fields = ["ILSVRC2012_ID", "WNID", "words", "gloss", "num_children", "children", "wordnet_height",
              "num_train_images"]
    synsets = np.zeros((len(wnids) + 1,), dtype=[(f, "O") for f in fields])
    for i, w in enumerate(wnids):
        synsets[i] = (ids[w], w, f"class {i}, thing {i}", "a test class", 0, np.zeros(0), 0, 6)
    # an inner node of the hierarchy: never a class
    synsets[-1] = (len(wnids) + 1, "n99999999", "entity", "the root", len(wnids), np.arange(1, len(wnids) + 1), 3, 0)
    truth = "".join(f"{ids[w]}\n" for w in val_wnids)
    folder = root / "ILSVRC2012_devkit_t12"
    (folder / "data").mkdir(parents=True)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"synsets": synsets})
    (folder / "data" / "meta.mat").write_bytes(buf.getvalue())
    (folder / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(truth)
    if form == "archive":
        with tarfile.open(root / "ILSVRC2012_devkit_t12.tar.gz", "w:gz") as tar:
            tar.add(folder, arcname="ILSVRC2012_devkit_t12")
        shutil.rmtree(folder)
