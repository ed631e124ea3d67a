"""Images per second of the project's ImageNet input pipeline beside torchvision's reference
pipeline, measured in one run on the same JPEG files.

    landmarks bench loader                           # generated 500x375 JPEGs, this machine's cores
    landmarks bench loader --root ~/imagenet --images 5000 --device cuda

The project's pipeline (train/sources/image_pipeline.py): each file read with torchvision.io.read_file, decoded
to uint8 RGB by decode_image and cropped by transforms.v2 on uint8 tensors in the loader's workers,
batches drawn by EpochBatches, carried as uint8 (pinned on CUDA) and scaled and normalised on the
device by to_input; on CUDA also `decode: gpu`, each batch's file bytes decoded by nvJPEG in one call.
The reference is what torchvision's references/classification/train.py builds: ImageFolder (PIL),
RandomResizedCrop(224) + RandomHorizontalFlip (eval: Resize(256) + CenterCrop(224)), ToTensor,
Normalize, a DataLoader with the same batch size and workers, each batch then moved to the device.
"""

from __future__ import annotations

import copy
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from landmarks.bench.timing import sync
from landmarks.data.imagenet import IMAGE_SUFFIXES, Split
from landmarks.errors import DataError
from landmarks.train.sources.image_pipeline import (
    MEAN,
    STD,
    EpochBatches,
    batch_input,
    eval_transform,
    image_loader,
    train_transform,
)
from landmarks.train.image_recipe import ImageRecipe

log = logging.getLogger(__name__)

IMAGE_SIZE = (500, 375)  # width x height: ImageNet's typical landscape photo
CLASSES = 4
# noise (0..255 scale) over smooth gradients at JPEG quality 90: about 80 KB a file at 500x375,
# near ImageNet's average, so the entropy decoder has a photograph's work to do
NOISE, QUALITY = 16.0, 90
REFERENCE = "torchvision reference (PIL)"
NOTES = ("A pass reads every image once, with the workers' start (neither loader keeps its workers "
         "between epochs, as in torchvision's reference); one untimed warm-up pass of each pipeline "
         "(page cache, decoders), then the timed passes alternate between the pipelines. images/s: "
         "the mean over the timed passes, with their standard deviation; vs torchvision: the ratio "
         "of the means. The project's loader prefetches 4 batches per worker, the reference the "
         "DataLoader's default 2. Both yield normalised float batches (B, 3, 224, 224) on the device; every "
         "pass is checked to yield each image exactly once.")


def make_tree(folder: Path, images: int, size: tuple[int, int] = IMAGE_SIZE, classes: int = CLASSES,
              seed: int = 0) -> Path:
    """`images` JPEGs of `size` (width, height) dealt into `classes` folders under folder/train/."""
    from torchvision.io import encode_jpeg

    g = torch.Generator().manual_seed(seed)
    width, height = size
    for i in range(images):
        coarse = torch.rand(1, 3, 6, 8, generator=g) * 255
        smooth = F.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)[0]
        pixels = (smooth + torch.randn(3, height, width, generator=g) * NOISE).clamp(0, 255).to(torch.uint8)
        path = folder / "train" / f"class{i % classes}" / f"{i:06d}.JPEG"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_jpeg(pixels, quality=QUALITY).numpy().tobytes())
    return folder


def class_folders(root: Path) -> Path:
    """The folder whose subfolders are the classes: root/train when there is one, else root."""
    return root / "train" if (root / "train").is_dir() else root


@dataclass
class Images:
    """The same images for both pipelines: the reference's ImageFolder and the project's Split."""

    folder: Path
    reference: object  # torchvision.datasets.ImageFolder, transform set per pass
    indices: list[int]
    split: Split

    @property
    def labels(self) -> Counter:
        return Counter(self.split.labels)


def select(root: Path, images: int, seed: int = 0) -> Images:
    """`images` files spread over the whole tree (all when 0 or more than it holds), listed once by
    ImageFolder so both pipelines read exactly the same files."""
    from torchvision.datasets import ImageFolder

    folder = class_folders(root)
    try:
        ref = ImageFolder(str(folder), is_valid_file=lambda p: Path(p).suffix.lower() in IMAGE_SUFFIXES)
    except OSError as exc:  # no such folder, no class folders, a class folder without images
        raise DataError(f"{root}: not a class-folder tree (<root>/train/<class>/*.JPEG or <root>/<class>/*.JPEG): "
                        f"{exc}") from None
    total = len(ref.samples)
    n = total if images <= 0 else min(images, total)
    indices = sorted(torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].tolist())
    files = tuple(str(Path(ref.samples[i][0]).relative_to(folder)) for i in indices)
    return Images(folder, ref, indices, Split(files, tuple(ref.samples[i][1] for i in indices)))


def reference_transform(train: bool, size: int = 224, resize: int = 256):
    """torchvision's reference presets on PIL images (transforms v1), ending in normalised floats."""
    from torchvision import transforms as T

    crop = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()] if train else [T.Resize(resize), T.CenterCrop(size)]
    return T.Compose([*crop, T.ToTensor(), T.Normalize(MEAN, STD)])


@dataclass
class Pipeline:
    name: str
    loader: Callable[[int], Iterable]  # pass number -> that pass's DataLoader
    finish: Callable  # a batch as the loader yields it -> normalised floats on the device


def pipelines(data: Images, train: bool, batch: int, workers: int, device: torch.device) -> list[Pipeline]:
    """The reference, the project's CPU-decode path and, on CUDA, its GPU-decode path."""
    from torch.utils.data import DataLoader, Subset

    n = len(data.indices)
    sizes = ImageRecipe()  # the project's default crop 224 and evaluation resize 256, for both
    ref_set = copy.copy(data.reference)
    ref_set.transform = reference_transform(train, sizes.size, sizes.eval_resize)

    def reference(epoch: int) -> DataLoader:
        return DataLoader(Subset(ref_set, data.indices), batch_size=batch, shuffle=train, num_workers=workers,
                          pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(epoch))

    out = [Pipeline(REFERENCE, reference, lambda x: x.to(device, non_blocking=True))]
    for decode in ("cpu", "gpu") if device.type == "cuda" else ("cpu",):
        recipe = ImageRecipe(decode=decode, workers=workers)
        transform = train_transform(recipe) if train else eval_transform(recipe)

        def project(epoch: int, recipe: ImageRecipe = recipe) -> Iterable:
            batches = EpochBatches(n, batch, seed=0, epoch=epoch, drop_last=False, shuffle=train)
            return image_loader(data.folder, data.split, recipe, train, batches, device, seed=epoch)

        def finish(x, recipe: ImageRecipe = recipe, transform=transform) -> torch.Tensor:
            return batch_input(x, device, recipe, transform)

        out.append(Pipeline(f"landmarks (decode: {decode})", project, finish))
    return out


@dataclass
class Pass:
    seconds: float
    images: int
    shapes: set
    labels: Counter


def one_pass(pipeline: Pipeline, epoch: int, device: torch.device) -> Pass:
    """Every batch of one pass brought to normalised floats on the device, timed to the last one."""
    count, shapes, labels = 0, set(), Counter()
    sync(device)
    t0 = time.perf_counter()
    for x, y in pipeline.loader(epoch):
        x = pipeline.finish(x)
        count += x.shape[0]
        shapes.add(tuple(x.shape[1:]))
        labels.update(y.tolist())
    sync(device)
    return Pass(time.perf_counter() - t0, count, shapes, labels)


def checked(p: Pass, pipeline: Pipeline, data: Images) -> Pass:
    """A pass that dropped or repeated an image would be timed on other work: refuse its figure."""
    if p.images != len(data.indices) or p.labels != data.labels or len(p.shapes) != 1:
        raise RuntimeError(f"{pipeline.name}: a pass yielded {p.images} images (expected {len(data.indices)}), "
                           f"labels {dict(p.labels)} (expected {dict(data.labels)}), shapes {sorted(p.shapes)}")
    return p


def measure(data: Images, train: bool, batch: int, workers: int, device: torch.device, repeats: int) -> list[dict]:
    """One row per pipeline for one transform: seconds and images per second over `repeats` passes."""
    kind = "train" if train else "eval"
    lines = pipelines(data, train, batch, workers, device)
    timed: dict[str, list[Pass]] = {p.name: [] for p in lines}
    for epoch in range(repeats + 1):
        for pipeline in lines:
            p = checked(one_pass(pipeline, epoch, device), pipeline, data)
            label = "warm-up" if epoch == 0 else f"pass {epoch}/{repeats}"
            log.info("  %s, %s, %s: %.2f s, %.0f images/s", kind, pipeline.name, label, p.seconds, p.images / p.seconds)
            if epoch:
                timed[pipeline.name].append(p)
    shapes = {name: next(iter(passes[0].shapes)) for name, passes in timed.items()}
    if len(set(shapes.values())) != 1:  # a ratio of rates is only fair for the same output
        raise RuntimeError(f"the pipelines yield different shapes: {shapes}")
    rates = {name: [p.images / p.seconds for p in passes] for name, passes in timed.items()}
    base = statistics.mean(rates[REFERENCE])
    rows = []
    for name, passes in timed.items():
        rate = statistics.mean(rates[name])
        rows.append({"transform": kind, "pipeline": name, "images/pass": passes[0].images, "batch": batch,
                     "workers": workers, "output": "x".join(map(str, shapes[name])),
                     "s/pass": round(statistics.mean(p.seconds for p in passes), 3), "images/s": round(rate, 1),
                     "images/s std": round(statistics.stdev(rates[name]), 1) if len(passes) > 1 else 0.0,
                     "vs torchvision": round(rate / base, 2)})
    return rows


def default_workers() -> int:
    return min(os.cpu_count() or 1, 8)


def run(root: Path | None, images: int, batch: int, workers: int, device: torch.device, repeats: int,
        image_size: tuple[int, int] = IMAGE_SIZE) -> tuple[list[dict], str]:
    """The table's rows (train, then eval transform) and notes naming the data and the settings;
    on generated JPEGs in a temporary folder unless `root` is a class-folder tree."""
    import torchvision

    with tempfile.TemporaryDirectory(prefix="landmarks-loader-") as tmp:
        if root is None:
            log.info("bench loader: writing %d JPEGs of %dx%d", images, *image_size)
            root = make_tree(Path(tmp), images, image_size)
            source = f"generated JPEGs of {image_size[0]}x{image_size[1]} in {CLASSES} classes (quality {QUALITY})"
        else:
            source = f"images of {root}, drawn at random"
        data = select(root, images)
        kb = sum((data.folder / f).stat().st_size for f in data.split.files) / len(data.split.files) / 1024
        rows = [r for train in (True, False) for r in measure(data, train, batch, workers, device, repeats)]
    pipelines_text = " ".join(__doc__.split("\n\n", 2)[2].split())
    notes = (f"Data: {len(data.indices)} {source}, {kb:.0f} KB a file on average. Batch {batch}, {workers} workers, "
             f"{repeats} timed passes per pipeline; torchvision {torchvision.__version__}, device {device.type}.\n\n"
             f"{pipelines_text}\n\n{NOTES}")
    return rows, notes
