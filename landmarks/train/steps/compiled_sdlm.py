"""A per-sample SDLM step as one compiled function: forward, criterion, gradient and the update
w <- w - eta / (mu + h) g, traced together by torch.compile (`recipe.compile` with `optimizer:
sdlm`).

One sample per update makes every step tiny: eager PyTorch spends most of it launching a few
dozen small operators and building the autograd graph. Compiled whole, Inductor runs the same
arithmetic as a handful of fused C++ loops. Measured on the 2-core Intel Xeon (2.8 GHz, 1 thread,
both cores busy with other runs): LeNet-5 of 1998 4.6 ms eager, 1.6 ms compiled; the 784-300-10
net 1.6 ms and 0.75 ms (`landmarks bench step`). Compiling only the forward pass, as
`recipe.compile` does for other optimizers, gave LeNet-5 3.7 ms.

The arithmetic is the eager step's in another order (fused loops), so the weights agree with an
eager run's to float rounding, not bit for bit; like the number of threads, it is how a run is
executed, not its recipe (`landmarks.train.recipe.EXECUTION_ONLY`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
from torch.func import functional_call, grad_and_value

from landmarks.train.compile import compiled
from landmarks.train.sdlm import SDLM


class CompiledSDLMStep:
    """`step(x, y)` -> (loss, outputs) for one batch, updating `model`'s parameters in place at the
    optimizer's current rate (its first group's "lr", as the schedule sets it) and curvature."""

    def __init__(self, model: nn.Module, optimizer: SDLM,
                 criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        if len(optimizer.param_groups) != 1:
            raise ValueError("the compiled SDLM step takes one parameter group")
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.names = [n for n, _ in named]
        self.optimizer = optimizer
        self.params = [p for _, p in named]
        # detached views share the parameters' storage: updating them updates the model
        self.views = [p.detach() for p in self.params]
        self.lr = torch.zeros((), dtype=self.params[0].dtype, device=self.params[0].device)

        def loss(params: list[torch.Tensor], x: torch.Tensor, y: torch.Tensor):
            out = functional_call(model, dict(zip(self.names, params)), (x,))
            return criterion(out, y), out.detach()

        def step(params, rates, lr, x, y):
            grads, (value, out) = grad_and_value(loss, has_aux=True)(params, x, y)
            with torch.no_grad():
                for p, r, g in zip(params, rates, grads):
                    p.sub_(lr * r * g)
            return value, out

        self._step = compiled(step)
        # the update happens here, not in optimizer.step(): tell the LR scheduler, which otherwise
        # warns that it steps before the optimizer ever did
        optimizer._opt_called = True

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = self.optimizer.state
        if any("rate" not in state[p] for p in self.params):
            raise RuntimeError("SDLM steps need the curvature: call estimate_curvature before the pass")
        self.lr.fill_(self.optimizer.param_groups[0]["lr"])  # a tensor: a new rate does not recompile
        return self._step(self.views, [state[p]["rate"] for p in self.params], self.lr, x, y)
