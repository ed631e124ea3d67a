"""XOR: what one layer cannot do (Minsky and Papert 1969) and backpropagation can (Rumelhart,
Hinton and Williams 1986).

A perceptron trained by its rule cycles forever on XOR; its best accuracy over the epochs is at
most 3/4, since no line separates the four points. A 2-2-1 sigmoid net trained by
backpropagation on the squared error usually reaches 4/4; some seeds stall in a local minimum,
so the landmark reports the share of seeds that succeed.
"""

from __future__ import annotations

import hashlib

import torch

from landmarks.models import create_model
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task
from landmarks.train.steps.perceptron import perceptron_epoch
from landmarks.train.seeding import seed_everything

X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = torch.tensor([0, 1, 1, 0])
XOR_HASH = hashlib.sha256(X.numpy().tobytes() + Y.numpy().tobytes()).hexdigest()


def _accuracy_perceptron(model: torch.nn.Module) -> float:
    with torch.no_grad():
        return float((model(X).argmax(1) == Y).float().mean())


@register_task("xor", inputs=lambda lm, claim: ((2,), 2))
def xor(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    recipe = run.recipe
    generator = seed_everything(run.seed)
    model = create_model(run.claim.model, (2,), 2, **run.claim.model_args)
    history = []
    if recipe.optimizer == "perceptron":
        best = 0.0
        for epoch in range(1, recipe.epochs + 1):
            made = perceptron_epoch(model, X, Y, generator)
            acc = _accuracy_perceptron(model)
            best = max(best, acc)  # the "pocket": the best weights seen so far
            history.append({"epoch": epoch, "train_loss": float(made), "train_error": 100.0 * (1 - acc)})
        accuracy = best
    else:
        # full-batch gradient descent on the squared error of a sigmoid output, as in 1986
        opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum)
        target = Y.float().view(-1, 1)
        for epoch in range(1, recipe.epochs + 1):
            out = torch.sigmoid(model(X))
            loss = torch.mean((out - target) ** 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if epoch % 50 == 0 or epoch == recipe.epochs:
                acc = float(((out.detach() > 0.5).long().view(-1) == Y).float().mean())
                history.append({"epoch": epoch, "train_loss": loss.item(), "train_error": 100.0 * (1 - acc)})
        with torch.no_grad():
            accuracy = float(((torch.sigmoid(model(X)) > 0.5).long().view(-1) == Y).float().mean())
    return RunResult(
        metrics={"accuracy": accuracy, "solved": float(accuracy == 1.0)},
        history=history,
        info={"data_hash": XOR_HASH, "epochs_run": len(history)},
    )
