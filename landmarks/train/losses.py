"""Training criteria by name: `compute_loss(outputs, targets, name)`, the mean over the batch of
each example's loss E^p.

- `cross_entropy`, `mse` (one-hot targets, mean over outputs): the project's two criteria so far.
- `mse_pm1`: LeCun et al. 1998's squared error for squashed output units, targets +1 for the class
  and -1 for the others (Appendix A: f(+-1) = +-1 so the targets sit where f'' is largest),
  summed over the outputs, as the paper's E^p is (no 1/2, no mean over outputs). SDLM's mu (0.02)
  is set against the size of E^p, so the sum matters.
- `rbf_mse`: the paper's maximum-likelihood criterion for RBF outputs (Section II-C),
  E^p = y_D, the penalty of the correct class.
- `rbf_map`: the paper's discriminative criterion (Section II-C),
  E^p = y_D + log(e^-j + sum_i e^-y_i).

The RBF criteria take the model's outputs as negative penalties, z_i = -y_i (`EuclideanRBF`), so
`rbf_map` is the cross-entropy of eleven logits, the ten z_i and a constant -j for a class no
example has: E^p = -z_D + log(e^-j + sum_i e^z_i).

Assumption: j is not given in the paper; 0.1 (`RBF_J`, the recipe's `rbf_j`) is this project's choice. e^-j then
outweighs every class whose penalty is more than a few units, so only the classes close to the
output are pushed away, the role the paper gives j ("prevents the penalties of classes that are
already very large from being pushed further up").

    python -c "import torch; from landmarks.train.losses import compute_loss; print(compute_loss(-torch.ones(1, 10) * 5, torch.tensor([3]), 'rbf_map'))"
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from landmarks.registry import Registry

Loss = Callable[..., torch.Tensor]  # (outputs, targets, **params) -> mean loss
LOSSES: Registry[Loss] = Registry("loss")
RBF_J = 0.1


def _one_hot(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # F.one_hot's check of the labels' range reads them on the host, which a step compiled whole
    # (landmarks/train/steps/compiled_sdlm.py) cannot trace; a comparison builds the same targets
    return (torch.arange(outputs.shape[1], device=targets.device) == targets[:, None]).to(outputs.dtype)


@LOSSES.register("cross_entropy")
def cross_entropy(outputs: torch.Tensor, targets: torch.Tensor, **_: Any) -> torch.Tensor:
    return F.cross_entropy(outputs, targets)


@LOSSES.register("mse")
def mse(outputs: torch.Tensor, targets: torch.Tensor, **_: Any) -> torch.Tensor:
    return F.mse_loss(outputs, _one_hot(outputs, targets))


@LOSSES.register("mse_pm1")
def mse_pm1(outputs: torch.Tensor, targets: torch.Tensor, **_: Any) -> torch.Tensor:
    target = _one_hot(outputs, targets) * 2 - 1
    return (outputs - target).pow(2).sum(dim=1).mean()


@LOSSES.register("rbf_mse")
def rbf_mse(outputs: torch.Tensor, targets: torch.Tensor, **_: Any) -> torch.Tensor:
    return -outputs.gather(1, targets.view(-1, 1)).mean()


@LOSSES.register("rbf_map")
def rbf_map(outputs: torch.Tensor, targets: torch.Tensor, rbf_j: float = RBF_J, **_: Any) -> torch.Tensor:
    rubbish = outputs.new_full((outputs.shape[0], 1), -rbf_j)
    return F.cross_entropy(torch.cat([outputs, rubbish], dim=1), targets)


def compute_loss(outputs: torch.Tensor, targets: torch.Tensor, name: str, rbf_j: float = RBF_J) -> torch.Tensor:
    """The mean over the batch of the criterion `name` (a name of `LOSSES`); `rbf_j` is the
    recipe's j of `rbf_map`, which the other criteria ignore."""
    return LOSSES.get(name)(outputs, targets, rbf_j=rbf_j)
