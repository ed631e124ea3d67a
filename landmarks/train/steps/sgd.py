"""The reference step: learning rate, forward, loss, backward, optimizer step, constraints, in that
order. The optimizer is SGD (PyTorch's, with the recipe's momentum forms) or LeCun et al. 1998's
stochastic diagonal Levenberg-Marquardt, whose curvature is re-estimated at each pass's first step.

Losses and error counts stay on the device (no host sync per step); the loop reads them when a
checkpoint or the epoch's end needs them.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from landmarks.train.distributed import World
from landmarks.train.losses import compute_loss
from landmarks.train.recipe import Recipe
from landmarks.train.sdlm import SDLM
from landmarks.train.state import Batch
from landmarks.train.steps.compiled_sdlm import CompiledSDLMStep


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    if recipe.optimizer == "sdlm":
        return SDLM(model.parameters(), lr=recipe.lr, mu=recipe.sdlm.mu)
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


@torch.no_grad()
def apply_max_norm(model: nn.Module, max_norm: float) -> None:
    """Srivastava et al. 2014: each unit's incoming weight vector kept within a ball of radius c."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.weight.copy_(torch.renorm(m.weight, p=2, dim=0, maxnorm=max_norm))


class SGDStep:
    """`forward` is the module a step calls: the model, its DistributedDataParallel wrapper, or
    either through torch.compile; `model` is the unwrapped one. `sample(k)`: k training examples
    drawn afresh, (inputs, labels), where SDLM estimates its curvature before each pass."""

    def __init__(self, model: nn.Module, forward, optimizer: torch.optim.Optimizer,
                 scheduler: torch.optim.lr_scheduler.LambdaLR, recipe: Recipe, world: World, bf16: bool,
                 steps_per_epoch: int, sample: Callable[[int], tuple[torch.Tensor, torch.Tensor]] | None = None) -> None:
        self.model, self.forward, self.optimizer, self.scheduler = model, forward, optimizer, scheduler
        self.recipe, self.world, self.bf16, self.steps_per_epoch = recipe, world, bf16, steps_per_epoch
        self.sample = sample
        # one sample per SDLM update is overhead-bound: with recipe.compile the whole step is compiled
        self.whole = CompiledSDLMStep(model, optimizer, self.criterion) if (
            recipe.compile and isinstance(optimizer, SDLM) and not world.active and not bf16) else None

    def criterion(self, outputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return compute_loss(outputs.float(), y, self.recipe.loss, self.recipe.rbf_j)

    def __call__(self, batch: Batch, lr_step: int, losses: torch.Tensor, wrong: torch.Tensor) -> None:
        recipe = self.recipe
        if batch.index == 0 and isinstance(self.optimizer, SDLM):
            # Section III-B: the second derivatives re-estimated on 500 patterns before each pass
            self.model.train()
            self.optimizer.estimate_curvature(self.model, *self.sample(recipe.sdlm.curvature_samples), self.criterion)
        xb, yb = batch.load()
        if self.whole is not None:
            loss, logits = self.whole(xb, yb)
            self.scheduler.step()
            losses[batch.index] = loss * len(yb)
            wrong += (logits.argmax(1) != yb).sum()
            return
        with torch.autocast(xb.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            logits = self.forward(xb)
            loss = self.criterion(logits, yb)
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
