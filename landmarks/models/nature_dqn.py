"""The Nature DQN's network (Mnih et al. 2015, Methods, "Model architecture").

    python -c "import torch; from landmarks.models import create_model; print(create_model('nature-dqn', (4, 84, 84), 6)(torch.zeros(1, 4, 84, 84, dtype=torch.uint8)).shape)"
"""

from __future__ import annotations

import torch
from torch import nn

from landmarks.models.registry import register_model


class NatureQNetwork(nn.Module):
    """Methods, "Model architecture": 4 x 84 x 84 input, 32 8x8 filters stride 4, 64 4x4 stride 2,
    64 3x3 stride 1, 512 rectifier units, one linear output per action. Inputs are uint8 frames,
    scaled to [0, 1] here. Initial weights are PyTorch's default, uniform in +-1/sqrt(fan-in),
    which is Torch 7's, the framework of DeepMind's code."""

    def __init__(self, actions: int, history: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(history, 32, 8, stride=4), nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 512), nn.ReLU(),
        )
        self.head = nn.Linear(512, actions)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(frames.float() / 255.0))


@register_model("nature-dqn")
def nature_dqn(in_shape: tuple[int, ...], num_classes: int) -> NatureQNetwork:
    """`in_shape` (history, 84, 84); `num_classes`: the game's actions."""
    if tuple(in_shape[1:]) != (84, 84):
        raise TypeError(f"the Nature network reads 84 x 84 frames, got {tuple(in_shape)}")
    return NatureQNetwork(num_classes, history=in_shape[0])
