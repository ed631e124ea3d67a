"""`recipe.compile`: the training step's forward (and so its backward) through torch.compile.

On a CPU, Inductor fuses what eager mode runs as separate passes over memory (batch norm, ReLU,
the residual add, and their gradients); the convolutions stay oneDNN's. On the 2-core reference
CPU (AMD EPYC, AVX512-BF16) it does not pay for the nets of `landmarks bench step --repeats 7`
(ResNet-20's bf16 channels_last step 134.6 ms eager, 144.2 ms compiled; cnn4 29.2 and 36.6 ms),
and its first step compiles for about 35 s (later runs reuse Inductor's on-disk cache), so it is
a recipe's choice, not a default.
Evaluation keeps the eager module: switching BatchNorm to eval mode would compile a second graph.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from landmarks.errors import TrainingError


def compiled(module: nn.Module | Callable[..., Any]) -> Callable[..., Any]:
    """`module` (or a function) compiled; the first call, where compilation happens, fails with a
    message saying what to do when this machine cannot compile (Inductor needs a C++ compiler on
    a CPU)."""
    fn = torch.compile(module)
    first = True

    def call(*args: Any) -> Any:
        nonlocal first
        if not first:
            return fn(*args)
        try:
            out = fn(*args)
        except Exception as err:  # Inductor's failures have many types; all mean the same here
            why = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise TrainingError(f"recipe.compile: torch.compile could not build this model here ({why}). "
                                "On a CPU it needs a C++ compiler (gcc or clang) on PATH; install one, or "
                                "set compile: false to train eagerly") from err
        first = False
        return out

    return call
