"""The model registry: `create_model(name, in_shape, num_classes, **args)` and `list_models()`.

A builder takes the input shape (C, H, W) and the number of classes, then keyword arguments
that a claim's `model_args` supply; the catalog check binds those to the builder's signature.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from landmarks.errors import ConfigError
from landmarks.registry import Registry

Builder = Callable[..., nn.Module]
MODELS: Registry[Builder] = Registry("model")


def register_model(name: str | None = None) -> Callable[[Builder], Builder]:
    return MODELS.register(name)


def create_model(name: str, in_shape: tuple[int, ...], num_classes: int, **args: Any) -> nn.Module:
    """Build a registered model for inputs of shape `in_shape` (C, H, W) and `num_classes` outputs."""
    builder = MODELS.get(name)
    try:
        return builder(tuple(in_shape), num_classes, **args)
    except TypeError as exc:
        raise ConfigError(f"model {name!r}: bad model_args {args}: {exc}") from None


def list_models() -> list[str]:
    return MODELS.names()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
