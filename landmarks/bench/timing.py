"""What every benchmark's clock needs."""

from __future__ import annotations

import torch


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a wall-clock time covers it (CUDA runs asynchronously)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
