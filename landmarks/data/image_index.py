"""The prepared form of an image-folder dataset (ImageNet, Imagenette): an index, not arrays.

    data/prepared/<dataset>/{train.tsv, val.tsv, manifest.json}

Each index line is `<path relative to the root>\t<label>`. The images stay where they are and are
decoded per batch (landmarks.data.images). The data hash covers every image's path, size and label:
hashing the bytes of 1.3 million JPEGs would take longer than an epoch.
"""

from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from landmarks.data.imagenet import IMAGENET_ENV, Split, Tree, check_full
from landmarks.errors import DataError

log = logging.getLogger(__name__)

FORMAT = "image folders: index of <path>\\t<label>, images decoded per batch"
INDEX = {"train": "train.tsv", "val": "val.tsv"}
STAT_THREADS = 32


@dataclass(frozen=True)
class ImageIndex:
    """What training reads of an image-folder dataset."""

    name: str
    root: Path
    classes: tuple[str, ...]
    train: Split
    val: Split  # the paper's test set for ImageNet (ILSVRC-2012 validation)
    content_hash: str
    subset: bool  # not the full release: results say so

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _digest(root: Path, split: Split) -> str:
    """The sha256 of a split's index lines with each image's size folded in. The sizes are read by
    many threads: on a network file system a stat is a round trip, and ImageNet has 1.3 million."""
    with ThreadPoolExecutor(max_workers=STAT_THREADS) as pool:
        sizes = pool.map(lambda rel: os.stat(root / rel).st_size, split.files, chunksize=256)
        digest = hashlib.sha256()
        for rel, label, size in zip(split.files, split.labels, sizes):
            digest.update(f"{rel}\t{label}\t{size}\n".encode())
    return digest.hexdigest()


def write_index(name: str, tree: Tree, folder: Path, allow_subset: bool) -> dict:
    """Write the index files of a checked tree into `folder`; returns the manifest."""
    short = check_full(tree) if name == "imagenet" else []
    if short and not allow_subset:
        raise DataError(f"{tree.root}: not the full ILSVRC-2012 release ({'; '.join(short)}). Complete the copy, "
                        "or set data.imagenet_subset: true in params.yaml to train on this subset (its results "
                        "are then labelled as a subset)")
    if short:
        log.warning("%s: a subset of ILSVRC-2012 (%s); its results are labelled so", tree.root, "; ".join(short))
    splits, whole = {}, hashlib.sha256()
    for split, fname in INDEX.items():
        part: Split = getattr(tree, split)
        digest = _digest(tree.root, part)
        (folder / fname).write_text("".join(f"{rel}\t{label}\n" for rel, label in zip(part.files, part.labels)))
        counts = [0] * len(tree.classes)
        for label in part.labels:
            counts[label] += 1
        splits[split] = {"images": len(part.files), "index_sha256": digest, "class_counts": counts}
        whole.update(digest.encode())
    return {"dataset": name, "format": FORMAT, "root": str(tree.root), "layout": tree.layout,
            "num_classes": len(tree.classes), "classes": list(tree.classes), "subset": bool(short),
            "content_hash": whole.hexdigest(), "splits": splits, "max_value": 255}


def _read_split(folder: Path, fname: str, num_classes: int) -> Split:
    files, labels = [], []
    for n, line in enumerate((folder / fname).read_text().splitlines(), 1):
        rel, _, label = line.rpartition("\t")
        if not rel or not label.isdigit() or int(label) >= num_classes:
            raise DataError(f"{folder / fname}: line {n} is not '<path>\\t<label>'; run `landmarks prepare` again")
        files.append(rel)
        labels.append(int(label))
    return Split(tuple(files), tuple(labels))


def read_index(name: str, folder: Path, manifest: dict, check: bool = True) -> ImageIndex:
    """The prepared index, checked against its manifest (the same images, sizes and labels as at
    `landmarks prepare`), so a run's data hash names the data it reads. The images are looked for
    under LANDMARKS_IMAGENET when it is set (a cluster's compute nodes may mount the copy elsewhere
    than the node that prepared it; the check vouches for what is found there)."""
    moved = os.environ.get(IMAGENET_ENV) if name == "imagenet" else None
    root = Path(moved).expanduser().resolve() if moved else Path(manifest["root"])
    log.info("%s: %s %s images under %s against the index", name, "checking" if check else "reading",
             f"{sum(s['images'] for s in manifest['splits'].values()):,}", root)
    splits = {}
    for split, fname in INDEX.items():
        part = _read_split(folder, fname, manifest["num_classes"])
        if not check:
            splits[split] = part
            continue
        try:
            digest = _digest(root, part)
        except OSError as exc:
            raise DataError(f"{root}: {exc.strerror}: {exc.filename}; the image tree changed after `landmarks "
                            f"prepare {name}`: restore it, or run `landmarks prepare {name}` again") from None
        if digest != manifest["splits"][split]["index_sha256"]:
            raise DataError(f"{folder / fname}: the {split} images under {root} differ from those indexed by "
                            f"`landmarks prepare {name}` (files or sizes changed); run it again")
        splits[split] = part
    return ImageIndex(name, root, tuple(manifest["classes"]), splits["train"], splits["val"],
                      manifest["content_hash"], bool(manifest["subset"]))
