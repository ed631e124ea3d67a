"""The Nature DQN's learning (Mnih et al. 2015): DeepMind's RMSProp and the Q-learning update
(its network is `landmarks.models.nature_dqn`).

    python -c "from landmarks.rl.dqn import DeepMindRMSprop; import torch; print(DeepMindRMSprop([torch.zeros(1, requires_grad=True)]))"
"""

from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn


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
