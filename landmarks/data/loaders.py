"""Device-resident data: the whole dataset as tensors on the training device.

Small datasets fit on any GPU many times over, so batches are slices of one tensor: no Dataset,
no DataLoader workers, no per-sample Python, no host-to-device copy inside the training step.
The training images are kept as uint8 too, for the fast path, which normalises inside its step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from landmarks.data.registry import Splits

# the validation split is fixed: the same examples for every seed, so seeds vary only the
# initialisation and the data order
VAL_SPLIT_SEED = 12345
# LeCun et al. 1998, Section II-B: "the background level (white) corresponds to a value of -0.1
# and the foreground (black) corresponds to 1.175", so the mean is about 0 and the variance about 1
LECUN_BACKGROUND, LECUN_FOREGROUND = -0.1, 1.175


@dataclass(frozen=True)
class DeviceData:
    x_train: torch.Tensor | None  # float32, (N, C, H, W), normalised; None when only uint8 is kept
    y_train: torch.Tensor  # int64
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    x_train_u8: torch.Tensor  # uint8, (N, C, H, W): what the fast path indexes
    max_value: float
    mean: torch.Tensor | None = None  # (1, C, 1, 1) for "standard" and "lecun", (1, C, H, W) for "pixel_mean"
    std: torch.Tensor | None = None

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train_u8.shape[1:])


def split_validation(n: int, val_fraction: float, how: str = "random") -> tuple[np.ndarray, np.ndarray]:
    """Indices of the training and validation parts of a training set of size n: a fixed random
    share ("random"), or the last images of the file ("last": Simard et al. 2003 train on MNIST's
    first 50,000 images and validate on the other 10,000)."""
    n_val = int(round(n * val_fraction))
    order = np.arange(n) if how == "last" else np.random.default_rng(VAL_SPLIT_SEED).permutation(n)[::-1]
    return np.sort(order[:n - n_val]), np.sort(order[n - n_val:])


def to_device(splits: Splits, val_fraction: float, normalize: str, device: torch.device,
              float_train: bool = True, val_split: str = "random") -> DeviceData:
    def u8(x: np.ndarray) -> torch.Tensor:
        # a copy: prepared arrays are read-only memory maps
        return torch.from_numpy(np.array(x)).to(device).permute(0, 3, 1, 2).contiguous()

    tr, va = split_validation(len(splits.train_y), val_fraction, val_split)
    all_u8 = u8(splits.train_x)
    y_all = torch.from_numpy(np.array(splits.train_y)).to(device)
    idx_tr = torch.from_numpy(tr).to(device)
    idx_va = torch.from_numpy(va).to(device)
    train_u8 = all_u8[idx_tr]
    scale = float(splits.max_value)
    x_train = train_u8.float().div_(scale)
    x_val = all_u8[idx_va].float().div_(scale)
    x_test = u8(splits.test_x).float().div_(scale)
    mean = std = None
    if normalize == "standard":
        # per-channel statistics of the training part only
        mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
        std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
        x_train, x_val, x_test = ((t - mean) / std for t in (x_train, x_val, x_test))
    elif normalize == "pixel_mean":
        # the mean image of the training part, subtracted pixel by pixel and channel by channel, on
        # the raw pixel scale (0..255) as cuda-convnet's data provider does: its initial weights
        # (sigma 1e-4 in conv1) assume inputs of that size, and on a 0..1 scale the net sat at
        # chance for its first epochs. Stored as (x - mean) / std with std = 1 / max_value, the
        # form the CUDA fast step applies to its [0, 1] batches.
        mean = x_train.mean(dim=0, keepdim=True)
        std = torch.full_like(mean, 1.0 / scale)
        x_train, x_val, x_test = ((t - mean) / std for t in (x_train, x_val, x_test))
    elif normalize == "lecun":
        # a linear map of the grey levels: 0 (background) -> -0.1, max_value (full ink) -> 1.175.
        # Assumption: MNIST's grey levels between the two map linearly. Kept as (x - mean) / std
        # on the [0, 1] scale, the form the CUDA fast step applies to its batches.
        std = torch.full((1, x_train.shape[1], 1, 1), 1.0 / (LECUN_FOREGROUND - LECUN_BACKGROUND), device=device)
        mean = -LECUN_BACKGROUND * std
        x_train, x_val, x_test = ((t - mean) / std for t in (x_train, x_val, x_test))
    elif normalize != "unit":
        raise ValueError(f"unknown normalize {normalize!r}: unit, standard, pixel_mean or lecun")
    return DeviceData(
        x_train=x_train if float_train else None,
        y_train=y_all[idx_tr],
        x_val=x_val,
        y_val=y_all[idx_va],
        x_test=x_test,
        y_test=torch.from_numpy(np.array(splits.test_y)).to(device),
        num_classes=splits.num_classes,
        x_train_u8=train_u8,
        max_value=scale,
        mean=mean,
        std=std,
    )
