"""ImageNet ILSVRC-2012, supplied by the user, and Imagenette, a small downloadable stand-in.

Both use the layout torchvision's ImageNet and ImageFolder read:

    <root>/train/<wnid>/*.JPEG
    <root>/val/<wnid>/*.JPEG

ImageNet is never downloaded (its licence requires an account): point LANDMARKS_IMAGENET (or
params.yaml's data.imagenet) at the root. `landmarks prepare imagenet` checks the layout and
writes an index of classes and files; images are decoded at training time.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from landmarks.data.registry import DatasetSpec, register_dataset
from landmarks.data.fetch import RemoteFile
from landmarks.errors import DataError

IMAGENET_ENV = "LANDMARKS_IMAGENET"
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
WNID = re.compile(r"^n\d{8}$")
EXPECTED = (
    "expected <root>/train/<class>/<image> and <root>/val/<class>/<image> (class folders named by "
    "WordNet id, e.g. train/n01440764/n01440764_10026.JPEG, as torchvision's ImageNet lays them out)"
)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def check_layout(root: Path, official: bool = True) -> dict:
    """The classes and image counts of an image-folder tree; a DataError saying what was expected
    and what was found when the tree has another shape."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; {EXPECTED}")
    index: dict = {"root": str(root), "splits": {}}
    for split in ("train", "val"):
        folder = root / split
        if not folder.is_dir():
            found = ", ".join(sorted(p.name for p in root.iterdir())[:10]) or "nothing"
            raise DataError(f"{root}: no '{split}' folder (found: {found}); {EXPECTED}")
        loose = _images(folder)
        if loose:
            raise DataError(
                f"{folder}: holds {len(loose)} images directly instead of class folders; sort them "
                f"into {split}/<wnid>/ (the ILSVRC devkit's ground truth says which is which); {EXPECTED}"
            )
        classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
        if not classes:
            raise DataError(f"{folder}: no class folders; {EXPECTED}")
        if official:
            odd = [c for c in classes if not WNID.match(c)]
            if odd:
                raise DataError(f"{folder}: class folder {odd[0]!r} is not a WordNet id (nXXXXXXXX); {EXPECTED}")
        counts = {}
        digest = hashlib.sha256()
        for c in classes:
            files = _images(folder / c)
            if not files:
                raise DataError(f"{folder / c}: an empty class folder; {EXPECTED}")
            counts[c] = len(files)
            for f in files:  # names and sizes: hashing every image's bytes would take hours
                digest.update(f"{c}/{f.name}:{f.stat().st_size}\n".encode())
        index["splits"][split] = {"classes": classes, "counts": counts, "images": sum(counts.values()),
                                  "listing_sha256": digest.hexdigest()}
    train, val = index["splits"]["train"]["classes"], index["splits"]["val"]["classes"]
    if train != val:
        missing = sorted(set(train) ^ set(val))[:5]
        raise DataError(f"{root}: train and val have different classes (e.g. {missing}); {EXPECTED}")
    return index


def imagenet_root(configured: str = "") -> Path:
    value = os.environ.get(IMAGENET_ENV) or configured
    if not value:
        raise DataError(
            f"ImageNet is supplied by you, not downloaded: set {IMAGENET_ENV} (or data.imagenet in "
            f"params.yaml) to its root; {EXPECTED}"
        )
    return Path(value).expanduser()


IMAGENETTE_ARCHIVE = RemoteFile(
    name="imagenette2-160.tgz",
    urls=("https://s3.amazonaws.com/fast-ai-imageclas/imagenette2-160.tgz",),
    content={},  # no published content hash: the archive's md5 (as published) vouches for it
    archive=True,
    md5="e793b78cc4c9e9a4ccc0c1155377a412",
)

register_dataset(DatasetSpec("imagenet", "ImageNet ILSVRC-2012 (supplied by the user), 1000 classes", 1000, 255, "user", (), None,
                             (3, 224, 224), test_images=50_000))
register_dataset(DatasetSpec("imagenette", "Imagenette 160 px, 10 ImageNet classes (fast.ai)", 10, 255, "download", (IMAGENETTE_ARCHIVE,),
                             None, (3, 160, 160), test_images=3_925))
