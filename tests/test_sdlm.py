"""Stochastic diagonal Levenberg-Marquardt (LeCun et al. 1998, Appendix C): a step against a hand
computation, the curvature against independent second derivatives, and the paper's rate schedule."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, hessian

from landmarks.models import create_model
from landmarks.models.lenet1998_codes import rbf_codes
from landmarks.models.lenet1998_layers import EuclideanRBF, ScaledTanh, SparseConv2d, Subsampling
from landmarks.train.losses import compute_loss
from landmarks.train.recipe import LECUN1998_SCHEDULE, Recipe, Schedule
from landmarks.train.schedules import lr_factor
from landmarks.train.sdlm import SDLM, gauss_newton_diagonal


def criterion(name: str):
    return lambda out, y: compute_loss(out, y, name)


def _set(layer: nn.Linear, w: float, b: float) -> None:
    with torch.no_grad():
        layer.weight.fill_(w)
        layer.bias.fill_(b)


def test_one_step_against_a_hand_computation():
    # x = 2 -> a = w1 x + b1 -> h = f(a) = 1.7159 tanh(2a/3) -> o = w2 h + b2; E = (o - 1)^2
    # (mse_pm1 with one output, the target +1). w1 = 0.25, b1 = 0, w2 = 0.25, b2 = 0:
    #   a = 0.5, tanh(1/3) = 0.321513, h = 0.551684, f'(a) = 1.7159 (2/3)(1 - 0.321513^2) = 1.025684
    #   o = 0.137921, E = 0.743180
    # second derivatives (Gauss-Newton, Appendix C): d2E/do2 = 2
    #   h(w2) = 2 h^2 = 0.608710          h(b2) = 2
    #   d2E/dh2 = w2^2 * 2 = 0.125        d2E/da2 = f'(a)^2 * 0.125 = 0.131504
    #   h(w1) = 0.131504 x^2 = 0.526014   h(b1) = 0.131504
    # gradients: dE/do = 2(o - 1) = -1.724158
    #   g(w2) = -1.724158 h = -0.951190   g(b2) = -1.724158
    #   dE/da = -1.724158 w2 f'(a) = -0.442111; g(w1) = -0.884221, g(b1) = -0.442111
    # step, eta = 0.1, mu = 0.02: w <- w - eta / (mu + h) g
    #   w1: 0.25 + 0.183145 * 0.884221 = 0.411941    b1: 0 + 0.660050 * 0.442111 = 0.291815
    #   w2: 0.25 + 0.159056 * 0.951190 = 0.401292    b2: 0 + 0.049505 * 1.724158 = 0.085354
    net = nn.Sequential(OrderedDict([("fc1", nn.Linear(1, 1)), ("f", ScaledTanh()), ("fc2", nn.Linear(1, 1))]))
    _set(net.fc1, 0.25, 0.0)
    _set(net.fc2, 0.25, 0.0)
    x, y = torch.tensor([[2.0]], dtype=torch.float64), torch.tensor([0])
    net.double()
    a = 0.5
    t = math.tanh(2 * a / 3)
    h, slope = 1.7159 * t, 1.7159 * 2 / 3 * (1 - t * t)
    o = 0.25 * h
    d2a = slope**2 * 0.25**2 * 2
    want_h = {"fc1.weight": d2a * 4, "fc1.bias": d2a, "fc2.weight": 2 * h * h, "fc2.bias": 2.0}
    assert want_h["fc1.weight"] == pytest.approx(0.526014, abs=1e-6) and want_h["fc2.weight"] == pytest.approx(0.608710, abs=1e-6)
    opt = SDLM(net.parameters(), lr=0.1, mu=0.02)
    opt.estimate_curvature(net, x, y, criterion("mse_pm1"))
    for name, p in net.named_parameters():
        assert float(opt.state[p]["h"]) == pytest.approx(want_h[name], rel=1e-9), name
    loss = compute_loss(net(x), y, "mse_pm1")
    assert loss.item() == pytest.approx((o - 1) ** 2, rel=1e-9) and loss.item() == pytest.approx(0.743180, abs=1e-6)
    opt.zero_grad()
    loss.backward()
    opt.step()
    d_o = 2 * (o - 1)
    grads = {"fc1.weight": d_o * 0.25 * slope * 2, "fc1.bias": d_o * 0.25 * slope, "fc2.weight": d_o * h, "fc2.bias": d_o}
    start = {"fc1.weight": 0.25, "fc1.bias": 0.0, "fc2.weight": 0.25, "fc2.bias": 0.0}
    want = {k: start[k] - 0.1 / (0.02 + want_h[k]) * grads[k] for k in start}
    assert want == pytest.approx({"fc1.weight": 0.411941, "fc1.bias": 0.291815, "fc2.weight": 0.401292,
                                  "fc2.bias": 0.085354}, abs=1e-6)
    for name, p in net.named_parameters():
        assert p.item() == pytest.approx(want[name], rel=1e-9), name


def _exact_diagonal(net: nn.Module, x: torch.Tensor, y: torch.Tensor, crit) -> dict[str, torch.Tensor]:
    """The diagonal of the Hessian of the mean loss with respect to each parameter, from torch.func."""
    params = {k: v.detach() for k, v in net.named_parameters()}
    full = hessian(lambda ps: crit(functional_call(net, ps, (x,)), y))(params)
    return {k: full[k][k].reshape(v.numel(), v.numel()).diagonal().reshape(v.shape) for k, v in params.items()}


@pytest.mark.parametrize("head,loss", [((), "cross_entropy"), ((), "mse_pm1"), (("rbf",), "rbf_map"),
                                       (("rbf",), "rbf_mse")])
def test_curvature_is_the_exact_diagonal_where_the_approximation_is_exact(head, loss):
    """One linear layer into the criterion: each weight has one connection per sample and the
    layer's output is linear in it, so Appendix C's estimate is the exact Hessian diagonal."""
    torch.manual_seed(0)
    width = 84 if head else 10
    layers = [nn.Flatten(), nn.Linear(12, width)] + ([EuclideanRBF(rbf_codes())] if head else [])
    net = nn.Sequential(*layers).double()
    x, y = torch.randn(7, 3, 4, dtype=torch.float64), torch.randint(0, 10, (7,))
    got = gauss_newton_diagonal(net, x, y, criterion(loss))
    exact = _exact_diagonal(net, x, y, criterion(loss))
    for name, p in net.named_parameters():
        torch.testing.assert_close(got[p], exact[name], rtol=1e-9, atol=1e-12)
        assert float(exact[name].abs().max()) > 0


def _paper_rule(d2a: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """sum over a shared weight's connections of d2E/da_i^2 x_j^2, averaged over samples: the
    inputs' squares gathered per kernel position (unfold), weighted by the outputs' curvature."""
    cols = F.unfold(x.pow(2), k)  # (N, C_in * k * k, positions)
    return torch.einsum("nol,nkl->ok", d2a.flatten(2), cols).reshape(d2a.shape[1], x.shape[1], k, k) / len(x)


def test_shared_weights_sum_their_connections():
    """A convolution's kernel weight is used at every position: its estimate is the paper's sum
    over connections (off-diagonal terms dropped), computed here from the exact curvature of the
    loss with respect to the conv's outputs."""
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3)
    net = nn.Sequential(conv, nn.Flatten()).double()
    x, y = torch.randn(5, 2, 6, 6, dtype=torch.float64), torch.randint(0, 48, (5,))
    got = gauss_newton_diagonal(net, x, y, criterion("cross_entropy"))
    out = net(x).detach()
    per_sample = [hessian(lambda o: F.cross_entropy(o[None], y[i:i + 1]))(out[i]).diagonal() for i in range(5)]
    d2a = torch.stack(per_sample).reshape(5, 3, 4, 4)
    torch.testing.assert_close(got[conv.weight], _paper_rule(d2a, x, 3), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(got[conv.bias], d2a.sum(dim=(2, 3)).mean(0), rtol=1e-9, atol=1e-12)


def test_c3_and_subsampling_follow_the_same_rule():
    """C3's kernels get the estimates a full convolution gets at the same connections, and a
    subsampling coefficient the sum over its units of d2E/da^2 times the sum of its four inputs^2."""
    torch.manual_seed(2)
    sparse = SparseConv2d(6, ((0, 1, 2), (1, 3), (0, 2, 4, 5)))
    full = nn.Conv2d(6, 3, 5)
    with torch.no_grad():
        full.weight.copy_(sparse.full_weight())
        full.bias.copy_(sparse.bias)
    x, y = torch.randn(4, 6, 9, 9), torch.randint(0, 3 * 25, (4,))
    hs = gauss_newton_diagonal(nn.Sequential(sparse, nn.Flatten()), x, y, criterion("cross_entropy"))
    hf = gauss_newton_diagonal(nn.Sequential(full, nn.Flatten()), x, y, criterion("cross_entropy"))
    torch.testing.assert_close(hs[sparse.weight], hf[full.weight][sparse.out_idx, sparse.in_idx])
    torch.testing.assert_close(hs[sparse.bias], hf[full.bias])
    sub = Subsampling(2)
    x = torch.randn(4, 2, 6, 6, dtype=torch.float64)
    net = nn.Sequential(sub, nn.Flatten()).double()
    got = gauss_newton_diagonal(net, x, y % 18, criterion("mse_pm1"))
    # mse_pm1 sums squared errors over outputs: d2E/da^2 = 2 for every unit
    window_sq = F.avg_pool2d(x.pow(2), 2) * 4
    torch.testing.assert_close(got[sub.coef], 2 * window_sq.sum(dim=(2, 3)).mean(0))
    torch.testing.assert_close(got[sub.bias], torch.full((2,), 2.0 * 9, dtype=torch.float64))


def test_lenet5_step_descends_as_its_rates_predict_and_needs_the_curvature_first():
    torch.manual_seed(3)
    net = create_model("lenet5-1998", (1, 28, 28), 10).double()
    x, y = torch.randn(20, 1, 28, 28, dtype=torch.float64), torch.randint(0, 10, (20,))
    opt = SDLM(net.parameters(), lr=1e-6, mu=0.02)
    loss = compute_loss(net(x[:1]), y[:1], "rbf_map")
    loss.backward()
    with pytest.raises(RuntimeError, match="estimate_curvature"):
        opt.step()
    opt.estimate_curvature(net, x, y, criterion("rbf_map"))
    assert all(bool((s["h"] >= 0).all() and torch.isfinite(s["h"]).all()) for s in opt.state.values())
    # a small step along -rate * g lowers E by about lr * sum(rate * g^2) (first order)
    predicted = 1e-6 * sum(float((opt.state[p]["rate"] * p.grad.pow(2)).sum()) for p in net.parameters())
    opt.step()
    drop = float(loss) - float(compute_loss(net(x[:1]), y[:1], "rbf_map"))
    assert drop == pytest.approx(predicted, rel=0.05) and drop > 0
    # the state round-trips through a checkpoint
    again = SDLM(net.parameters(), lr=0.0005)
    again.load_state_dict(opt.state_dict())
    torch.testing.assert_close(again.state[net.C1.weight]["rate"], opt.state[net.C1.weight]["rate"])


def test_the_papers_rate_schedule_per_pass():
    recipe = Recipe(optimizer="sdlm", lr=0.0005, schedule=LECUN1998_SCHEDULE, batch_size=1, epochs=20)
    factor = lr_factor(recipe.schedule, steps_per_epoch=3)
    rates = [recipe.lr * factor(pass_ * 3 + 1) for pass_ in range(20)]
    # Section III-B: 0.0005 for 2 passes, 0.0002 for 3, 0.0001 for 3, 0.00005 for 4, 0.00001 after
    want = [0.0005] * 2 + [0.0002] * 3 + [0.0001] * 3 + [0.00005] * 4 + [0.00001] * 8
    assert rates == pytest.approx(want)
    assert recipe.sdlm.mu == 0.02 and recipe.sdlm.curvature_samples == 500
    with pytest.raises(ValueError, match="one factor more than milestones"):
        Schedule(kind="piecewise", milestones=(2,), factors=(1.0,))
    with pytest.raises(ValueError, match="factors go with kind: piecewise"):
        Schedule(kind="multistep", milestones=(2,), factors=(1.0, 0.1))
