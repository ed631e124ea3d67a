"""The training engine: `train_one_epoch`, `evaluate`, `fit`.

Inside a step the order is fixed: learning rate, forward, backward, step, constraints. Losses and
error counts are summed on the device and read once per epoch, so the step has no host sync.
The device comes in with the data (no global device), so data-parallel training can wrap it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from landmarks.catalog import Recipe
from landmarks.data.loaders import DeviceData
from landmarks.errors import TrainingError
from landmarks.metrics import topk_correct
from landmarks.train.schedules import lr_factor

EVAL_BATCH = 2048


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)  # one row per epoch
    selected_epoch: int = 0
    test: dict = field(default_factory=dict)  # top1_error, top5_error of the selected model
    steps: int = 0
    seconds: float = 0.0


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        model.parameters(),
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
            m.weight.data = torch.renorm(m.weight.data, p=2, dim=0, maxnorm=max_norm)


def train_one_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    recipe: Recipe,
    generator: torch.Generator,
) -> dict:
    model.train()
    n = len(y)
    order = torch.randperm(n, generator=generator).to(x.device)
    loss_sum = torch.zeros((), device=x.device)
    wrong = torch.zeros((), device=x.device, dtype=torch.long)
    for start in range(0, n, recipe.batch_size):
        idx = order[start : start + recipe.batch_size]
        xb, yb = x[idx], y[idx]
        logits = model(xb)
        loss = compute_loss(logits, yb, recipe.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        if recipe.max_norm > 0:
            apply_max_norm(model, recipe.max_norm)
        loss_sum += loss.detach() * len(yb)
        wrong += (logits.detach().argmax(1) != yb).sum()
    return {"train_loss": float(loss_sum) / n, "train_error": 100.0 * float(wrong) / n}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Top-k error in percent over a whole split, batched on the device."""
    model.eval()
    correct = {k: 0 for k in ks}
    for start in range(0, len(y), EVAL_BATCH):
        got = topk_correct(model(x[start : start + EVAL_BATCH]), y[start : start + EVAL_BATCH], ks)
        for k in ks:
            correct[k] += got[k]
    n = max(len(y), 1)
    return {f"top{k}_error": 100.0 * (n - correct[k]) / n for k in ks}


def perceptron_epoch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> dict:
    """One pass of Rosenblatt's rule over the training set, one example at a time."""
    order = torch.randperm(len(y), generator=generator)
    xs, ys = x.flatten(1).cpu(), y.cpu().tolist()
    mistakes = sum(model.update(xs[i], ys[i]) for i in order.tolist())
    return {"train_loss": float(mistakes), "train_error": 100.0 * mistakes / len(ys)}


def fit(
    model: nn.Module,
    data: DeviceData,
    recipe: Recipe,
    generator: torch.Generator,
    on_epoch: Callable[[dict], None] | None = None,
) -> FitResult:
    """Train for `recipe.epochs` epochs, select the reported epoch, evaluate it on the test set."""
    result = FitResult()
    t0 = time.perf_counter()
    steps_per_epoch = -(-len(data.y_train) // recipe.batch_size)
    perceptron_rule = recipe.optimizer == "perceptron"
    if not perceptron_rule:
        optimizer = make_optimizer(model, recipe)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(recipe.schedule, steps_per_epoch))
    has_val = len(data.y_val) > 0
    best_val, best_state, stale = float("inf"), None, 0
    for epoch in range(1, recipe.epochs + 1):
        t_epoch = time.perf_counter()
        if perceptron_rule:
            row = perceptron_epoch(model, data.x_train, data.y_train, generator)
            lr = 1.0
        else:
            lr = optimizer.param_groups[0]["lr"]
            row = train_one_epoch(model, data.x_train, data.y_train, optimizer, scheduler, recipe, generator)
            result.steps += steps_per_epoch
            if not torch.isfinite(torch.tensor(row["train_loss"])):
                raise TrainingError(
                    f"loss became {row['train_loss']} in epoch {epoch} (step <= {result.steps}); "
                    f"lower the learning rate (now {recipe.lr}) or use fp32"
                )
        val = evaluate(model, data.x_val, data.y_val, ks=(1,)) if has_val else {"top1_error": float("nan")}
        test = evaluate(model, data.x_test, data.y_test)
        row = {
            "epoch": epoch,
            "lr": lr,
            **row,
            "val_error": val["top1_error"],
            "test_error": test["top1_error"],
            "test_top5_error": test["top5_error"],
            "seconds": time.perf_counter() - t_epoch,
        }
        result.history.append(row)
        if on_epoch:
            on_epoch(row)
        if has_val and val["top1_error"] < best_val:
            best_val, stale = val["top1_error"], 0
            result.selected_epoch = epoch
            if recipe.select == "best_val":
                best_state = copy.deepcopy(model.state_dict())
        else:
            stale += 1
        if recipe.early_stopping_patience and has_val and stale >= recipe.early_stopping_patience:
            break
        if perceptron_rule and row["train_loss"] == 0:
            break  # converged: the rule makes no more changes
    if recipe.select == "best_val" and best_state is not None:
        model.load_state_dict(best_state)
    else:
        result.selected_epoch = len(result.history)
    result.test = evaluate(model, data.x_test, data.y_test)
    result.seconds = time.perf_counter() - t0
    return result
