"""The estimator registry: the scikit-learn baselines some papers compare against (Xiao et al. 2017).

An estimator is not a torch module and is not trained by the engine, so it has a registry of its
own; landmarks whose task is `estimator` name these instead of models. Builders take the seed and
the claim's `model_args` and return an unfitted scikit-learn classifier.
"""

from __future__ import annotations

from typing import Any, Callable

from landmarks.errors import ConfigError
from landmarks.registry import Registry

EstimatorBuilder = Callable[..., Any]
ESTIMATORS: Registry[EstimatorBuilder] = Registry("estimator")


def register_estimator(name: str | None = None) -> Callable[[EstimatorBuilder], EstimatorBuilder]:
    return ESTIMATORS.register(name)


def create_estimator(name: str, seed: int, **args: Any) -> Any:
    builder = ESTIMATORS.get(name)
    try:
        return builder(seed, **args)
    except TypeError as exc:
        raise ConfigError(f"estimator {name!r}: bad model_args {args}: {exc}") from None
