"""The image pipeline for data decoded per batch (ImageNet): files -> uint8 crops -> the device.

    loader = image_loader(index.root, split, images, train=True, batches=EpochBatches(...), device=device)
    for x_u8, y in loader: x = to_input(x_u8, device, images)   # float, normalised, (B, 3, H, W)

JPEG decoding is torchvision's (`decode_image` in the DataLoader's workers, or `decode_jpeg` batched
on the GPU with nvJPEG); crops and flips are torchvision.transforms.v2 on uint8 tensors. Batches
travel as uint8 (a quarter of float32's bytes) in pinned memory and are normalised on the device.
Evaluation with ten crops yields (B, 10, 3, H, W).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable, Iterator

import torch
import torchvision.transforms.v2 as T
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file

from landmarks.data.imagenet import Split
from landmarks.train.sources.augment import batch_layout
from landmarks.train.distributed import SINGLE, World
from landmarks.train.image_recipe import ImageRecipe

# the RGB mean and std of ImageNet's training images on a 0..1 scale, as torchvision's weights use
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# the principal components of ImageNet's RGB pixels (0..1 scale) for Krizhevsky 2012's colour
# augmentation, as fb.resnet.torch published them: eigenvalues, and eigenvectors as columns
PCA_EIGVAL = (0.2175, 0.0188, 0.0045)
PCA_EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))


def train_transform(images: ImageRecipe) -> T.Transform:
    if images.train_crop == "random_resized":
        steps: list = [T.RandomResizedCrop(images.size, antialias=True)]
    else:
        low, high = images.resize
        steps = [T.RandomShortestSize(list(range(low, high + 1)), antialias=True), T.RandomCrop(images.size)]
    if images.flip:
        steps.append(T.RandomHorizontalFlip())
    return T.Compose(steps)


class _TenCrops:
    """Resize, then the ten crops as one tensor (10, 3, H, W), which batches as (B, 10, 3, H, W)
    (TenCrop alone returns a tuple)."""

    def __init__(self, resize: int, size: int) -> None:
        self.resize, self.crops = T.Resize(resize, antialias=True), T.TenCrop(size)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        return torch.stack(self.crops(self.resize(img)))


def eval_transform(images: ImageRecipe) -> Callable[[torch.Tensor], torch.Tensor]:
    if images.eval_crops == 10:
        return _TenCrops(images.eval_resize, images.size)
    return T.Compose([T.Resize(images.eval_resize, antialias=True), T.CenterCrop(images.size)])


class ImageFiles(Dataset):
    """The images of one split: decoded and transformed here (the loader's workers), or returned
    as the file's bytes for decoding on the GPU (`transform=None`)."""

    def __init__(self, root: Path, split: Split, transform: T.Transform | None) -> None:
        self.root, self.files, self.labels, self.transform = root, split.files, split.labels, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        data = read_file(str(self.root / self.files[i]))
        if self.transform is None:
            return data, self.labels[i]
        # RGB whatever the file holds: ImageNet has a few greyscale and CMYK JPEGs and one PNG
        return self.transform(decode_image(data, mode=ImageReadMode.RGB)), self.labels[i]


class EpochBatches(Sampler[list[int]]):
    """One epoch's batches: a permutation drawn from (seed, epoch), cut into global batches of
    which this rank takes its contiguous share (as the device-resident path does), starting at
    batch `start` so a run resumed mid-epoch sees the images it had not seen yet."""

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, drop_last: bool, start: int = 0,
                 world: World = SINGLE, shuffle: bool = True) -> None:
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.drop_last, self.start, self.world, self.shuffle = drop_last, start, world, shuffle

    @property
    def batches(self) -> int:
        return self.world.batches(self.n, self.batch_size, self.drop_last)

    def __len__(self) -> int:
        return self.batches - self.start

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g)
        else:
            order = torch.arange(self.n)
        for b in range(self.start, self.batches):
            batch = order[b * self.batch_size:(b + 1) * self.batch_size]
            yield self.world.shard(batch).tolist()


def _bytes_batch(items: list) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A batch of encoded files as one tensor and their lengths: a worker hands each tensor over
    through a file descriptor of its own, and one per file (256 per batch, times the prefetched
    batches) exhausts a cluster's usual `ulimit -n` of 1,024."""
    files = [data for data, _ in items]
    return (torch.cat(files), torch.tensor([len(f) for f in files])), torch.tensor([y for _, y in items])


def image_loader(root: Path, split: Split, images: ImageRecipe, train: bool, batches: Sampler,
                 device: torch.device, seed: int = 0, preset: Callable | None = None, prefetch: int = 4) -> DataLoader:
    """A DataLoader of uint8 batches for one pass; on the GPU path, of (file bytes, labels).
    `preset`: a transform of one's own instead (torchvision's weights' own evaluation transform,
    which yields normalised floats), decoded in the workers."""
    gpu = preset is None and gpu_decode(images, device)
    transform = preset or (None if gpu else train_transform(images) if train else eval_transform(images))
    workers = images.workers
    return DataLoader(
        ImageFiles(root, split, transform), batch_sampler=batches, num_workers=workers,
        pin_memory=device.type == "cuda", collate_fn=_bytes_batch if gpu else None,
        # the workers' augmentation draws follow from the seed (given the number of workers)
        generator=torch.Generator().manual_seed(seed), persistent_workers=False,
        prefetch_factor=prefetch if workers else None,
    )


def gpu_decode(images: ImageRecipe, device: torch.device) -> bool:
    return device.type == "cuda" and images.decode in ("auto", "gpu")


def decode_on_device(batch, transform: Callable, device: torch.device) -> torch.Tensor:
    """nvJPEG decodes the batch (files, or the loader's (bytes, lengths)) in one call; when it
    refuses one file (a PNG, a CMYK JPEG), the batch is decoded on the CPU instead, so one odd
    image never stops an epoch."""
    files = list(torch.split(batch[0], batch[1].tolist())) if isinstance(batch, tuple) else batch
    try:
        decoded = decode_jpeg(files, mode=ImageReadMode.RGB, device=device)
    except RuntimeError:
        decoded = [decode_image(f, mode=ImageReadMode.RGB).to(device) for f in files]
    return torch.stack([transform(img) for img in decoded])


@functools.lru_cache(maxsize=None)
def _constants(device: torch.device) -> tuple[torch.Tensor, ...]:
    """ImageNet's mean, std and colour components on `device`, made once (not a copy per step)."""
    return tuple(torch.tensor(v, device=device) for v in (MEAN, STD, PCA_EIGVAL, PCA_EIGVEC))


def to_input(x_u8: torch.Tensor, device: torch.device, images: ImageRecipe, generator: torch.Generator | None = None,
             channels_last: bool = False) -> torch.Tensor:
    """A uint8 batch (B, 3, H, W) or (B, 10, 3, H, W) as the model's float input on `device`:
    scaled to 0..1, colour-augmented when training with `generator`, normalised as
    `images.normalize` says."""
    mean, std, eigval, eigvec = _constants(device)
    x = x_u8.to(device, non_blocking=True).float().div_(255)
    if generator is not None and images.pca_lighting > 0:
        alpha = torch.randn(x.shape[0], 3, generator=generator).to(device) * images.pca_lighting
        shift = (alpha * eigval) @ eigvec.T  # (B, 3): per image, per channel
        x = x + shift[:, :, None, None]
    if images.normalize == "mean_rgb_255":  # the 2012-2015 papers' form: pixel values minus the mean
        x = (x - mean.view(3, 1, 1)) * 255
    else:
        x = (x - mean.view(3, 1, 1)) / std.view(3, 1, 1)
    return batch_layout(x, channels_last)


def batch_input(x, device: torch.device, images: ImageRecipe, transform: Callable,
                generator: torch.Generator | None = None, channels_last: bool = False) -> torch.Tensor:
    """A loader's batch as the model's input: on the GPU path its files are decoded (and
    `transform`ed) on the device first; then `to_input`."""
    if gpu_decode(images, device):
        x = decode_on_device(x, transform, device)
    return to_input(x, device, images, generator, channels_last)
