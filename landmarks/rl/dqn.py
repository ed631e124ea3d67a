"""The Nature DQN (Mnih et al. 2015): its network, DeepMind's RMSProp and the Q-learning update.

    python -c "import torch; from landmarks.rl.dqn import NatureQNetwork; print(NatureQNetwork(6)(torch.zeros(1, 4, 84, 84, dtype=torch.uint8)).shape)"
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn


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


class DeepMindRMSprop(torch.optim.Optimizer):
    """RMSProp as DeepMind's DQN code (NeuralQLearner.lua) runs it, centred, with epsilon inside
    the root: g <- a g + (1 - a) dw, n <- a n + (1 - a) dw^2, w <- w - lr dw / sqrt(n - g^2 + eps).
    Extended Data Table 1: lr 0.00025, "gradient momentum" and "squared gradient momentum" a = 0.95,
    "min squared gradient" eps = 0.01. PyTorch's RMSprop(centered=True) adds eps outside the root
    (w <- w - lr dw / (sqrt(n - g^2) + eps)), which with eps = 0.01 is another rate."""

    def __init__(self, params: Iterable, lr: float = 0.00025, alpha: float = 0.95, eps: float = 0.01) -> None:
        if lr <= 0 or not 0 <= alpha < 1 or eps <= 0:
            raise ValueError(f"DeepMindRMSprop needs lr > 0, 0 <= alpha < 1 and eps > 0; got {lr}, {alpha}, {eps}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # the update computes its loss first: no closure
        if closure is not None:
            raise ValueError("DeepMindRMSprop.step takes no closure")
        for group in self.param_groups:
            a, lr, eps = group["alpha"], group["lr"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["g"], state["n"] = torch.zeros_like(p), torch.zeros_like(p)
                g, n, dw = state["g"], state["n"], p.grad
                g.mul_(a).add_(dw, alpha=1 - a)
                n.mul_(a).addcmul_(dw, dw, value=1 - a)
                p.addcdiv_(dw, (n - g * g + eps).sqrt(), value=-lr)


def td_loss(online: nn.Module, target: nn.Module, s: torch.Tensor, a: torch.Tensor, r: torch.Tensor,
            s_next: torch.Tensor, done: torch.Tensor, gamma: float) -> torch.Tensor:
    """The Q-learning loss of a minibatch against the target network's values (Methods, equation
    3), with the error y - Q clipped to [-1, 1] ("error clipping"): the Huber loss with threshold 1,
    whose gradient is -clip(y - Q, -1, 1). Summed over the minibatch, as DeepMind's code
    accumulates each transition's gradient (not their mean)."""
    q = online(s).gather(1, a.view(-1, 1)).squeeze(1)
    with torch.no_grad():
        y = r + gamma * (~done).float() * target(s_next).max(dim=1).values
    return F.smooth_l1_loss(q, y, reduction="sum", beta=1.0)
