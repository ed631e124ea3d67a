"""ImageNet ILSVRC-2012, supplied by the user, and Imagenette, a small downloadable stand-in.

Three layouts of the user's copy are read (LANDMARKS_IMAGENET or params.yaml's data.imagenet
points at its root):

    class folders   <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG (torchvision's ImageNet)
    official        <root>/train/<wnid>/*.JPEG (or ILSVRC2012_img_train/), the 50,000 validation
                    images in one flat folder <root>/val/ (or ILSVRC2012_img_val/), and the devkit
                    (<root>/ILSVRC2012_devkit_t12/ or ILSVRC2012_devkit_t12.tar.gz) whose ground
                    truth labels them
    archives        <root>/ILSVRC2012_img_{train,val}.tar and the devkit archive: torchvision's
                    ImageNet checks their md5 and unpacks them into the class-folder layout

The user's files are read in place, never moved. `landmarks prepare imagenet` checks the tree and
writes an index (one line per image: path, label) that training reads; images are decoded per batch.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from landmarks.data.fetch import RemoteFile
from landmarks.data.registry import DatasetSpec, register_dataset
from landmarks.errors import DataError

IMAGENET_ENV = "LANDMARKS_IMAGENET"
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
WNID = re.compile(r"^n\d{8}$")
# the full ILSVRC-2012 classification release
FULL = {"classes": 1000, "train": 1_281_167, "val": 50_000}
DEVKIT = "ILSVRC2012_devkit_t12"
GROUND_TRUTH = "data/ILSVRC2012_validation_ground_truth.txt"
ARCHIVES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar", "ILSVRC2012_devkit_t12.tar.gz")
EXPECTED = (
    "expected either class folders <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG "
    "(e.g. train/n01440764/n01440764_10026.JPEG), or the official layout: train/<wnid>/, the "
    f"validation images in one flat val/ folder and the devkit ({DEVKIT}/ or {DEVKIT}.tar.gz), or "
    f"the three official archives ({', '.join(ARCHIVES)}); see docs/imagenet.md"
)


@dataclass(frozen=True)
class Split:
    """One split's images: paths relative to the root, and their labels (class indices)."""

    files: tuple[str, ...]
    labels: tuple[int, ...]


@dataclass(frozen=True)
class Tree:
    root: Path
    layout: str  # "class folders" | "official (flat val + devkit)"
    classes: tuple[str, ...]  # sorted WordNet ids: label i is classes[i]
    train: Split
    val: Split


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """(images, sub-folders) of `folder`, each sorted. Their types come with the directory listing
    (os.scandir), not from a stat per file: a network file system answers each stat in a round
    trip, and there are 1.3 million files."""
    images, folders = [], []
    with os.scandir(folder) as entries:
        for e in entries:
            # macOS's ._ files, lost+found and .ipynb_checkpoints are not images or classes
            if e.name.startswith(".") or e.name == "lost+found":
                continue
            if e.is_dir():
                folders.append(Path(e.path))
            elif e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_SUFFIXES:
                images.append(Path(e.path))
    return sorted(images), sorted(folders)


def _first(root: Path, *names: str) -> Path | None:
    return next((root / n for n in names if (root / n).exists()), None)


def _class_folders(folder: Path, subfolders: list[Path]) -> dict[str, list[Path]]:
    classes = [p.name for p in subfolders]
    if not classes:
        raise DataError(f"{folder}: no class folders; {EXPECTED}")
    odd = [c for c in classes if not WNID.match(c)]
    if odd:
        raise DataError(f"{folder}: class folder {odd[0]!r} is not a WordNet id (nXXXXXXXX); {EXPECTED}")
    out = {}
    for c in classes:
        files = _listing(folder / c)[0]
        if not files:
            raise DataError(f"{folder / c}: an empty class folder (no .JPEG, .jpg or .png); {EXPECTED}")
        out[c] = files
    return out


def _ground_truth(root: Path) -> tuple[Path, dict[int, str], list[int]]:
    """(where it was read, devkit index -> WordNet id, one label index per validation image in
    file-name order). torchvision's parser reads the same two files but insists on the official
    archive's md5 and moves the images; here the user's copy stays as it is."""
    import scipy.io

    folder, archive = root / DEVKIT, root / f"{DEVKIT}.tar.gz"
    try:
        if folder.is_dir():
            where = folder
            meta = scipy.io.loadmat(folder / "data" / "meta.mat", squeeze_me=True)["synsets"]
            truth = (folder / GROUND_TRUTH).read_text()
        elif archive.is_file():
            where = archive
            with tarfile.open(archive) as tar:
                def read(name: str) -> bytes:
                    member = tar.extractfile(f"{DEVKIT}/{name}")
                    if member is None:
                        raise KeyError(name)
                    return member.read()
                meta = scipy.io.loadmat(io.BytesIO(read("data/meta.mat")), squeeze_me=True)["synsets"]
                truth = read(GROUND_TRUTH).decode()
        else:
            raise DataError(f"{root}: the validation images lie in one flat folder, and no devkit says their "
                            f"classes: put {DEVKIT}/ or {DEVKIT}.tar.gz (from image-net.org) in {root}; {EXPECTED}")
    except (OSError, KeyError, ValueError, tarfile.TarError) as exc:
        raise DataError(f"{folder if folder.is_dir() else archive}: not a readable ILSVRC-2012 devkit "
                        f"(needs data/meta.mat and {GROUND_TRUTH}): {exc}") from None
    # leaf synsets (no children) are the 1,000 classes; their ILSVRC2012_ID is what the ground truth lists
    leaves = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in meta if int(s["num_children"]) == 0}
    try:
        labels = [int(line) for line in truth.split()]
    except ValueError as exc:
        raise DataError(f"{where}: {GROUND_TRUTH} holds something other than class numbers: {exc}") from None
    return where, leaves, labels


def _flat_val(root: Path, folder: Path, images: list[Path], classes: tuple[str, ...]) -> Split:
    where, leaves, truth = _ground_truth(root)
    if len(truth) != len(images):
        raise DataError(f"{folder}: {len(images):,} validation images but {where}'s ground truth lists {len(truth):,}; "
                        "the two must be the same release (ILSVRC-2012: 50,000 each)")
    index = {c: i for i, c in enumerate(classes)}
    files, labels = [], []
    for path, number in zip(images, truth):  # line i of the ground truth is the i-th image by name
        wnid = leaves.get(number)
        if wnid is None or wnid not in index:
            raise DataError(f"{where}: the ground truth gives class {number} to {path.name}, which is "
                            f"{'no class of the devkit' if wnid is None else f'{wnid}, absent from train/'}")
        files.append(str(path.relative_to(root)))
        labels.append(index[wnid])
    return Split(tuple(files), tuple(labels))


def _split(root: Path, per_class: dict[str, list[Path]], classes: tuple[str, ...]) -> Split:
    files, labels = [], []
    for i, c in enumerate(classes):
        files += [str(p.relative_to(root)) for p in per_class[c]]
        labels += [i] * len(per_class[c])
    return Split(tuple(files), tuple(labels))


def read_tree(root: Path) -> Tree:
    """The classes and images of the user's tree, in any of the three layouts; a DataError
    saying what was expected and what was found when it has another shape."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; {EXPECTED}")
    train_dir = _first(root, "train", "ILSVRC2012_img_train")
    val_dir = _first(root, "val", "ILSVRC2012_img_val")
    if train_dir is None and val_dir is None and all((root / a).is_file() for a in ARCHIVES):
        _unpack_archives(root)
        return read_tree(root)
    for split, folder in (("train", train_dir), ("val", val_dir)):
        if folder is None or not folder.is_dir():
            found = ", ".join(sorted(p.name for p in root.iterdir())[:10]) or "nothing"
            raise DataError(f"{root}: no '{split}' folder (found: {found}); {EXPECTED}")
    train_images, train_folders = _listing(train_dir)
    if train_images:
        raise DataError(f"{train_dir}: holds images directly instead of class folders; {EXPECTED}")
    train = _class_folders(train_dir, train_folders)
    classes = tuple(train)
    flat, val_folders = _listing(val_dir)
    if flat:
        if val_folders:
            raise DataError(f"{val_dir}: holds both images and class folders; keep one layout ({EXPECTED})")
        return Tree(root, "official (flat val + devkit)", classes, _split(root, train, classes),
                    _flat_val(root, val_dir, flat, classes))
    val = _class_folders(val_dir, val_folders)
    if tuple(val) != classes:
        odd = sorted(set(val) ^ set(classes))[:5]
        raise DataError(f"{root}: train and val have different classes (e.g. {odd}); {EXPECTED}")
    return Tree(root, "class folders", classes, _split(root, train, classes), _split(root, val, classes))


def check_full(tree: Tree) -> list[str]:
    """What keeps the tree from being the full ILSVRC-2012 release (empty when it is)."""
    found = {"classes": len(tree.classes), "train": len(tree.train.files), "val": len(tree.val.files)}
    return [f"{k}: {found[k]:,} (the full release has {v:,})" for k, v in FULL.items() if found[k] != v]


def _unpack_archives(root: Path) -> None:
    """The official archives, md5-checked and unpacked into class folders by torchvision."""
    from torchvision.datasets import ImageNet

    try:
        for split in ("train", "val"):
            ImageNet(str(root), split=split)
    except (RuntimeError, OSError, EOFError, tarfile.TarError) as exc:
        raise DataError(f"{root}: could not unpack the official archives ({exc}); check that they are the "
                        "ILSVRC-2012 files from image-net.org, complete, and that the folder is writable") from None


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
                             (3, 224, 224), test_images=50_000, train_images=1_281_167))
register_dataset(DatasetSpec("imagenette", "Imagenette 160 px, 10 ImageNet classes (fast.ai)", 10, 255, "download", (IMAGENETTE_ARCHIVE,),
                             None, (3, 160, 160), test_images=3_925))
