"""Data augmentation on the device, a whole batch at a time (no per-sample Python).

- `crop`: pad by `pad` pixels (zeros) and take a random HxW window per image (He et al. 2016:
  4-pixel pad, random 32x32 crop);
- `flip`: horizontal flip of each image with probability 1/2;
- `affine`: a random small rotation, scaling and shift per image (the affine distortions of
  LeCun et al. 1998 and Simard et al. 2003), by bilinear resampling.

Randomness comes from torch's generator on the batch's device, which checkpoints save, so a
resumed run draws the same augmentations.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from landmarks.train.recipe import Recipe


def random_crop(x: torch.Tensor, pad: int, offsets: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """x (N, C, H, W) -> (N, C, H, W), each image a window of the zero-padded image at offsets
    (oy, ox) in [0, 2 * pad], drawn here unless given."""
    n, c, h, w = x.shape
    if offsets is None:
        oy = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
        ox = torch.randint(0, 2 * pad + 1, (n,), device=x.device)
    else:
        oy, ox = offsets
    padded = F.pad(x, (pad, pad, pad, pad)).permute(0, 2, 3, 1)  # (N, H+2p, W+2p, C)
    rows = oy[:, None] + torch.arange(h, device=x.device)
    cols = ox[:, None] + torch.arange(w, device=x.device)
    batch = torch.arange(n, device=x.device)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Flip each image left-right where `mask` (drawn here with p = 1/2 unless given) is True."""
    if mask is None:
        mask = torch.rand(x.shape[0], device=x.device) < 0.5
    return torch.where(mask[:, None, None, None], x.flip(3), x)


def batch_layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """An image batch in the memory layout its recipe asks for. The crop gathers pixels in NHWC
    order, and a convolution follows its input's layout, so without this an augmented batch
    would silently run an NCHW recipe channels_last (a different, faster arithmetic)."""
    if x.dim() != 4:
        return x
    return x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def random_affine(x: torch.Tensor, degrees: float = 15.0, scale: float = 0.15, shift: float = 0.1) -> torch.Tensor:
    """Rotation in [-degrees, degrees], scale in [1 - scale, 1 + scale], shift up to `shift` of
    the image size, independently per image."""
    n = x.shape[0]
    u = torch.rand(n, 4, device=x.device) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    s = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * shift * 2], 1),
                         torch.stack([sin, cos, u[:, 3] * shift * 2], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def augment(x: torch.Tensor, recipe: Recipe) -> torch.Tensor:
    for name in recipe.augment:
        if name == "crop":
            x = random_crop(x, recipe.crop_pad)
        elif name == "flip":
            x = random_flip(x)
        elif name == "affine":
            x = random_affine(x)
    return x
