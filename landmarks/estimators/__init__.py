"""Estimators: the registry (`registry`) and the scikit-learn baselines that register there."""

from landmarks.estimators.registry import ESTIMATORS, create_estimator, register_estimator
from landmarks.estimators import sklearn_baselines  # noqa: E402,F401,I001  (registers)

__all__ = ["ESTIMATORS", "create_estimator", "register_estimator"]
