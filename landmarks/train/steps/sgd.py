"""The reference step: learning rate, forward, loss, backward, SGD, constraints, in that order.

Losses and error counts stay on the device (no host sync per step); the loop reads them when a
checkpoint or the epoch's end needs them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.train.distributed import World
from landmarks.train.recipe import Recipe
from landmarks.train.state import Batch


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    params: list | object = model.parameters()
    if recipe.param_rules:  # one group per parameter: its own rate and weight decay
        params = []
        for name, p in model.named_parameters():
            scale, wd = recipe.param_settings(name)
            params.append({"params": [p], "lr": recipe.lr * scale, "weight_decay": wd})
    return torch.optim.SGD(
        params,
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
    )


def compute_loss(logits: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    if loss == "mse":
        return F.mse_loss(logits, F.one_hot(y, logits.shape[1]).to(logits.dtype))
    return F.cross_entropy(logits, y)


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> None:
    """Srivastava et al. 2014: each unit's incoming weight vector kept within a ball of radius c."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.copy_(torch.renorm(m.weight, p=2, dim=0, maxnorm=max_norm))


class SGDStep:
    """`forward` is the module a step calls: the model, its DistributedDataParallel wrapper, or
    either through torch.compile; `model` is the unwrapped one."""

    def __init__(self, model: nn.Module, forward, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LambdaLR, recipe: Recipe, world: World, bf16: bool,
                 steps_per_epoch: int) -> None:
        self.model, self.forward, self.optimizer, self.scheduler = model, forward, optimizer, scheduler
        self.recipe, self.world, self.bf16, self.steps_per_epoch = recipe, world, bf16, steps_per_epoch

    def __call__(self, batch: Batch, lr_step: int, losses: torch.Tensor, wrong: torch.Tensor) -> None:
        recipe = self.recipe
        xb, yb = batch.load()
        with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.forward(xb)
            loss = compute_loss(logits.float(), yb, recipe.loss)
        self.optimizer.zero_grad(set_to_none=True)
        if self.world.active:
            # DDP averages the ranks' gradients; weighting each share's mean loss by its size
            # (times the number of ranks) makes that average the gradient of the global batch's mean
            (loss * (self.world.size * len(yb) / batch.size)).backward()
        else:
            loss.backward()
        if recipe.momentum_start is not None or recipe.dampened:
            self._set_momentum(lr_step)
        self.optimizer.step()
        self.scheduler.step()
        if recipe.max_norm > 0:
            apply_max_norm(self.model, recipe.max_norm)
        losses[batch.index] = loss.detach() * len(yb)
        wrong += (logits.detach().argmax(1) != yb).sum()

    def _set_momentum(self, step: int) -> None:
        # PyTorch's SGD reads momentum and dampening from the group at every step; its first step
        # starts the velocity at the raw gradient whatever the dampening
        m = self.recipe.momentum_at(step / self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["momentum"] = m
            group["dampening"] = m if self.recipe.dampened else 0.0
