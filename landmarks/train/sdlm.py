"""Stochastic diagonal Levenberg-Marquardt (LeCun, Bottou, Bengio, Haffner 1998, Appendix C; LeCun,
Bottou, Orr, Mueller 1998, "Efficient BackProp", its stochastic diagonal Levenberg-Marquardt
method), as a torch optimizer.

Each parameter w_k steps by eps_k = eta / (mu + h_kk) times its gradient. h_kk estimates the
second derivative of the loss with respect to w_k under the paper's three approximations:
1. off-diagonal terms dropped: a shared weight's h_kk is the sum over its connections (i, j) of
   d2E/du_ij^2 = d2E/da_i^2 * x_j^2 (a_i the total input of unit i, x_j the state feeding it);
2. Gauss-Newton: d2E/da_i^2 = f'(a_i)^2 * sum_k u_ki^2 * d2E/da_k^2, backpropagated with squared
   weights and squared slopes, the f''(a_i) dE/dx_i term dropped, so every estimate is >= 0;
3. averaged over a small subset (500 patterns) before each pass, then fixed during the pass.
The loss's own curvature is kept: the output second derivatives are the exact diagonal of the
per-sample criterion's Hessian, taken with respect to the last squashed (or linear) outputs, with
any parameter-free layers after them (LeNet-5's fixed RBF units) counted as part of the criterion.
(Efficient BackProp also gives a running average h <- (1 - g) h + g d2E/dw2; the 1998 paper's
Section III-B re-estimates on 500 samples and keeps h fixed for the pass, which is what this does.)

The loop calls, before each pass over the training set, then once per sample:

    opt = SDLM(model.parameters(), lr=0.0005, mu=0.02)
    opt.estimate_curvature(model, x[idx500], y[idx500], criterion)  # criterion(outputs, y) -> mean loss
    loss = criterion(model(x[i:i + 1]), y[i:i + 1]); opt.zero_grad(); loss.backward(); opt.step()

The model is an `nn.Sequential` (nested ones are flattened) of layers that are affine in their
input with their weights as the input's coefficients (Linear, Conv2d, LeNet's SparseConv2d and
Subsampling, Flatten), elementwise squashing functions, and parameter-free layers: the estimate
evaluates each affine layer on squared weights and squared inputs, whose vector-Jacobian product
gives both the weights' h_kk and the curvature passed down.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn
from torch.func import functional_call, jvp, vjp

from landmarks.models.lenet1998_layers import InputFrame, ScaledTanh, SparseConv2d, Subsampling

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
SQUASHING = (ScaledTanh, nn.Tanh, nn.Sigmoid)
# layers each of whose outputs is a sum of (weight or 1) x input terms plus a bias: the squared
# twin's vector-Jacobian product is then exactly the Gauss-Newton rule
AFFINE = (nn.Linear, nn.Conv2d, SparseConv2d, Subsampling, nn.Flatten)
# parameter-free layers that only come before every weight (never backpropagated through)
INPUT_ONLY = (InputFrame, nn.Identity)


def _layers(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [leaf for m in model for leaf in _layers(m)]
    return [model]


def _has_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters())


def output_curvature(outputs: torch.Tensor, targets: torch.Tensor, criterion: Criterion,
                     head: Iterable[nn.Module] = ()) -> torch.Tensor:
    """Per sample, the diagonal of the Hessian of the loss criterion(head(outputs)) with respect
    to `outputs`, clamped at 0 (the criteria here are convex in what they read, so it only clips
    rounding). One Hessian-vector product per output unit, all samples at once: the loss is a mean
    of per-sample losses, so its Hessian is block-diagonal over samples."""
    z = outputs.detach().clone().requires_grad_(True)
    out = z
    for m in head:
        out = m(out)
    n = z.shape[0]
    (grad,) = torch.autograd.grad(criterion(out, targets) * n, z, create_graph=True)
    flat = grad.reshape(n, -1)
    diag = torch.empty_like(flat)
    for j in range(flat.shape[1]):
        probe = torch.zeros_like(flat)
        probe[:, j] = 1.0
        (hv,) = torch.autograd.grad(flat, z, grad_outputs=probe, retain_graph=True)
        diag[:, j] = hv.reshape(n, -1)[:, j]
    return diag.reshape(z.shape).clamp_min(0.0)


def _squared_twin(layer: nn.Module, x: torch.Tensor, curvature: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """(sum over the batch of d2E/dw^2 per parameter name, d2E/dx^2 per input) for an affine layer."""
    squared = {name: p.detach().pow(2) for name, p in layer.named_parameters()}
    _, pullback = vjp(lambda ps, u: functional_call(layer, ps, (u,)), squared, x.detach().pow(2))
    return pullback(curvature)


def gauss_newton_diagonal(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                          criterion: Criterion) -> dict[nn.Parameter, torch.Tensor]:
    """h_kk for every parameter of `model`: the Gauss-Newton diagonal averaged over the samples."""
    layers = _layers(model)
    states = []
    with torch.no_grad():
        x = inputs
        for m in layers:
            states.append(x)
            x = m(x)
    end = len(layers)  # the head: trailing parameter-free layers that are not squashing functions
    while end and not _has_params(layers[end - 1]) and not isinstance(layers[end - 1], SQUASHING):
        end -= 1
    first = next((i for i, m in enumerate(layers) if _has_params(m)), end)
    curvature = output_curvature(states[end] if end < len(layers) else x, targets, criterion, layers[end:])
    totals: dict[nn.Parameter, torch.Tensor] = {}
    for i in range(end - 1, first - 1, -1):
        m, a = layers[i], states[i]
        if isinstance(m, SQUASHING):
            slope = jvp(m, (a,), (torch.ones_like(a),))[1]
            curvature = curvature * slope.pow(2)
        elif isinstance(m, AFFINE):
            sums, curvature = _squared_twin(m, a, curvature)
            for name, p in m.named_parameters():
                totals[p] = totals.get(p, 0) + sums[name]
        else:
            kind = "only before the first weight" if isinstance(m, INPUT_ONLY) else "not supported by SDLM"
            raise TypeError(f"layer {i} ({type(m).__name__}) is {kind}: its second derivatives are not defined here")
    missing = [p for p in model.parameters() if p.requires_grad and p not in totals]
    if missing:
        raise TypeError(f"{len(missing)} parameters lie in no layer SDLM walks (a parameter-free layer after them?)")
    return {p: t / len(inputs) for p, t in totals.items()}


class SDLM(torch.optim.Optimizer):
    """w_k <- w_k - lr / (mu + h_kk) * dE/dw_k, with h_kk set by `estimate_curvature` (or
    `set_curvature`) before each pass. `lr` is the paper's global rate eta and may follow a
    schedule (param_groups' "lr", as torch's schedulers set it); mu is read when h is set."""

    def __init__(self, params: Iterable, lr: float, mu: float = 0.02) -> None:
        if lr <= 0 or mu <= 0:
            raise ValueError(f"SDLM needs lr > 0 and mu > 0, got lr={lr}, mu={mu}")
        super().__init__(params, {"lr": lr, "mu": mu})

    def set_curvature(self, curvature: dict[nn.Parameter, torch.Tensor]) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p not in curvature:
                    raise KeyError(f"no curvature for a parameter of shape {tuple(p.shape)}")
                h = curvature[p].detach().to(p.dtype)
                self.state[p]["h"] = h
                self.state[p]["rate"] = 1.0 / (group["mu"] + h)
        self._rates = None  # rebuilt at the next step

    def estimate_curvature(self, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor,
                           criterion: Criterion) -> None:
        self.set_curvature(gauss_newton_diagonal(model, inputs, targets, criterion))

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if getattr(self, "_rates", None) is None:  # per group: the parameters and their rates, listed once per pass
            if any("rate" not in self.state[p] for g in self.param_groups for p in g["params"]):
                raise RuntimeError("SDLM steps need the curvature: call estimate_curvature before the pass")
            self._rates = [(g["params"], [self.state[p]["rate"] for p in g["params"]]) for g in self.param_groups]
        for group, (params, rates) in zip(self.param_groups, self._rates):
            if any(p.grad is None for p in params):
                live = [i for i, p in enumerate(params) if p.grad is not None]
                params, rates = [params[i] for i in live], [rates[i] for i in live]
            if params:
                torch._foreach_addcmul_(params, [p.grad for p in params], rates, value=-group["lr"])
        return loss

    def load_state_dict(self, state_dict: dict) -> None:
        super().load_state_dict(state_dict)
        self._rates = None
