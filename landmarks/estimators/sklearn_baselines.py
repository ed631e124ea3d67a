"""The scikit-learn classifiers of the Fashion-MNIST benchmark (Xiao, Rasul and Vollgraf 2017).

The benchmark ran scikit-learn with default settings except the swept ones it reports, so the
builders pass the claim's arguments straight through and fix only the random state.
"""

from __future__ import annotations

from typing import Any

from landmarks.estimators.registry import register_estimator


@register_estimator("svc")
def svc(seed: int, **args: Any):
    """libsvm's SVC (one-vs-one; kernel, C and gamma from the claim). Deterministic: the seed only
    matters with probability estimates, which are off."""
    from sklearn.svm import SVC

    return SVC(random_state=seed, **args)


@register_estimator("linear_svc")
def linear_svc(seed: int, **args: Any):
    """liblinear's LinearSVC (one-vs-rest); its coordinate descent visits samples in a seeded order."""
    from sklearn.svm import LinearSVC

    return LinearSVC(random_state=seed, **args)


@register_estimator("mlp_classifier")
def mlp_classifier(seed: int, **args: Any):
    """scikit-learn's MLPClassifier (Adam, batch 200, early stopping off by default)."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(random_state=seed, **args)
