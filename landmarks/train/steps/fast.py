"""The fast path for CUDA: a whole training step as one CUDA graph.

Small landmark models are bound by per-step overhead (kernel launches, Python), not FLOPs. So:
- the training images stay on the device as uint8 and are normalised inside the step;
- crop and flip run on the device inside the step (`landmarks.train.sources.augment`);
- bf16 autocast and channels_last memory layout;
- forward, backward and the SGD update (written with foreach ops, the learning rate a device
  tensor so a schedule needs no re-capture) are captured once as a CUDA graph and replayed;
- per-step losses and error counts accumulate on the device and are read once per epoch: no host
  sync inside the step.

On a CPU (or with `graph=False`) the same step runs eagerly in fp32: that is how it is tested
against the reference engine, which it matches step for step within float rounding.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.train.recipe import Recipe
from landmarks.train.sources.augment import augment, batch_layout
from landmarks.train.state import Batch


class FastStep:
    def __init__(self, model: nn.Module, x_u8: torch.Tensor, y: torch.Tensor, max_value: float,
                 mean: torch.Tensor | None, std: torch.Tensor | None, recipe: Recipe, steps_per_epoch: int,
                 graph: bool, bf16: bool, channels_last: bool, lr_at=None) -> None:
        self.model, self.recipe = model, recipe
        self.lr_at = lr_at or (lambda step: recipe.lr)  # the rate at a global step (the trainer's schedule)
        self.x_u8, self.y = x_u8, y  # (N, C, H, W) uint8 and (N,) int64, on the device
        self.max_value, self.mean, self.std = max_value, mean, std
        self.device = x_u8.device
        self.bf16, self.channels_last = bf16, channels_last
        if channels_last:
            model.to(memory_format=torch.channels_last)
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        self.params = [p for _, p in named]
        # per-parameter rate scale and weight decay (recipe.param_rules), as Python scalars
        self.lr_scales, self.decays = zip(*(recipe.param_settings(n) for n, _ in named)) if named else ((), ())
        self.per_param = bool(recipe.param_rules)
        self.momentum = [torch.zeros_like(p) for p in self.params]
        self.lr = torch.tensor(recipe.lr, device=self.device)  # filled before each step
        self.idx = torch.zeros(recipe.batch_size, dtype=torch.long, device=self.device)
        self.pos = torch.zeros(1, dtype=torch.long, device=self.device)  # the step's slot in `losses`
        self.losses = torch.zeros(steps_per_epoch, device=self.device)
        self.wrong = torch.zeros((), dtype=torch.long, device=self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.use_graph = graph and self.device.type == "cuda"

    # -- the step itself: everything here is captured ----------------------------------------
    def _step(self) -> None:
        r = self.recipe
        xb = self.x_u8[self.idx].float().div_(self.max_value)
        if self.mean is not None:
            xb = (xb - self.mean) / self.std
        yb = self.y[self.idx]
        if r.augment:
            xb = augment(xb, r)
        xb = batch_layout(xb, self.channels_last)
        ctx = torch.autocast("cuda", dtype=torch.bfloat16) if self.bf16 else contextlib.nullcontext()
        with ctx:
            logits = self.model(xb)
        loss = F.cross_entropy(logits.float(), yb)
        # zero the gradients in place: a CUDA graph needs them to stay the same tensors
        grads = [p.grad for p in self.params if p.grad is not None]
        if grads:
            torch._foreach_zero_(grads)
        loss.backward()
        self._sgd()
        self.losses.index_copy_(0, self.pos, (loss.detach() * len(yb)).view(1))
        self.wrong.add_((logits.detach().argmax(1) != yb).sum())

    @torch.no_grad()
    def _sgd(self) -> None:
        """torch.optim.SGD's update (no dampening), with a tensor learning rate."""
        r = self.recipe
        grads = [p.grad for p in self.params]
        if self.per_param:
            grads = torch._foreach_add(grads, torch._foreach_mul(self.params, list(self.decays)))
        elif r.weight_decay:
            grads = torch._foreach_add(grads, self.params, alpha=r.weight_decay)
        if r.momentum:
            torch._foreach_mul_(self.momentum, r.momentum)
            torch._foreach_add_(self.momentum, grads)
            update = torch._foreach_add(grads, self.momentum, alpha=r.momentum) if r.nesterov else self.momentum
        else:
            update = grads
        step = torch._foreach_mul(update, self.lr)
        if self.per_param:
            torch._foreach_mul_(step, list(self.lr_scales))
        torch._foreach_add_(self.params, step, alpha=-1.0)

    # -- driving it ---------------------------------------------------------------------------
    def capture(self) -> None:
        """Warm up on a side stream, then capture one step; the warm-up's effects are undone."""
        saved = {k: v.clone() for k, v in self.model.state_dict().items()}
        mom = [m.clone() for m in self.momentum]
        rng = torch.cuda.get_rng_state(self.device)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self._step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self._step()
        with torch.no_grad():
            self.model.load_state_dict(saved)
            for m, s in zip(self.momentum, mom):
                m.copy_(s)
        torch.cuda.set_rng_state(rng, self.device)
        self.losses.zero_()
        self.wrong.zero_()

    def __call__(self, batch: Batch, lr_step: int, losses: torch.Tensor, wrong: torch.Tensor) -> None:
        """The loop's step; `losses` and `wrong` are this step's own buffers (`self.losses`, `self.wrong`)."""
        self.run(batch.idx, batch.index, self.lr_at(lr_step))

    def run(self, idx: torch.Tensor, pos: int, lr: float) -> None:
        self.idx.copy_(idx, non_blocking=True)
        self.pos.fill_(pos)
        self.lr.fill_(lr)
        if self.use_graph:
            if self.graph is None:
                self.capture()
            self.graph.replay()
        else:
            self._step()
