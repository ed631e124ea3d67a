"""Fit a scikit-learn estimator on a dataset's flattened images and report its test error.

Images are flattened and scaled to [0, 1]; with the recipe's `normalize: standard` each pixel is
then standardised on the training images (scikit-learn's StandardScaler), as the Fashion-MNIST
benchmark's runner did; with the claim's `data_args: {shuffle: true}` the training images are put
in an order drawn from the seed before the fit, as that runner did before each repeat. A fit cannot be
checkpointed part-way; a stopped run starts its fit again. The training error is not measured:
for an RBF SVC it would cost six times the test prediction.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from landmarks.estimators import create_estimator
from landmarks.metrics import error_percent, topk_correct
from landmarks.tasks.registry import RunControl, RunResult, RunSpec, StageContext, register_task

log = logging.getLogger(__name__)


def _flat(x: np.ndarray, max_value: int) -> np.ndarray:
    return x.reshape(len(x), -1).astype(np.float32) / float(max_value)


def _flat_splits(name: str, ctx: StageContext, normalize: str):
    """The dataset as flat arrays, in [0, 1] or standardised per pixel, made once per stage and
    shared by its claims and seeds."""
    key = f"flat:{name}:{normalize}"
    if key not in ctx.cache:
        splits = ctx.splits(name)
        train, test = _flat(splits.train_x, splits.max_value), _flat(splits.test_x, splits.max_value)
        if normalize == "standard":
            from sklearn.preprocessing import StandardScaler

            scaler = StandardScaler().fit(train)
            train, test = scaler.transform(train), scaler.transform(test)
        ctx.cache[key] = (splits, train, test)
    return ctx.cache[key]


def _top5_error(scores: np.ndarray, classes: np.ndarray, y: np.ndarray) -> float:
    assert (classes == np.arange(len(classes))).all(), "class labels must be 0..n-1, as in the registry"
    hits = topk_correct(torch.from_numpy(np.ascontiguousarray(scores)), torch.from_numpy(np.array(y)).long(), (5,))
    return error_percent(hits, len(y))["top5_error"]


def _learned_numbers(est) -> int | None:
    """The count of fitted numbers: support vectors and their weights for SVC, weights otherwise."""
    if hasattr(est, "support_vectors_"):
        return int(est.support_vectors_.size + est.dual_coef_.size + est.intercept_.size)
    if hasattr(est, "coefs_"):
        return int(sum(w.size for w in est.coefs_) + sum(b.size for b in est.intercepts_))
    if hasattr(est, "coef_"):
        return int(est.coef_.size + np.size(est.intercept_))
    return None


@register_task("estimator", models="estimator")
def estimator(run: RunSpec, ctx: StageContext, control: RunControl) -> RunResult:
    claim = run.claim
    splits, x_all, x_test = _flat_splits(run.landmark.dataset, ctx, run.recipe.normalize)
    limit = int(claim.data_args.get("train_images", 0)) or len(splits.train_y)
    x_train, y_train, y_test = x_all[:limit], splits.train_y[:limit], splits.test_y
    if claim.data_args.get("shuffle"):
        # the Fashion-MNIST runner shuffled the training set before every repeat (sklearn.utils.shuffle):
        # a solver that visits the examples in order (libsvm's SMO, to its tolerance) may end elsewhere
        order = np.random.default_rng(run.seed).permutation(limit)
        x_train, y_train = x_train[order], y_train[order]
    est = create_estimator(claim.model, run.seed, **claim.model_args)
    log.info("    fitting %s on %s images of %d pixels (one fit, no progress inside; an RBF SVC on 60,000 "
             "images takes about 7 min on 2 cores)", type(est).__name__, f"{len(y_train):,}", x_train.shape[1])
    t0 = time.perf_counter()
    est.fit(x_train, y_train)
    fit_s = time.perf_counter() - t0
    pred = est.predict(x_test)
    metrics = {"top1_error": 100.0 * float(np.mean(pred != y_test))}
    # top-5 from class scores where they come cheap; an SVC's would cost a second pass over its
    # support vectors, as long as the prediction itself
    if hasattr(est, "predict_proba") and hasattr(est, "coefs_"):
        metrics["top5_error"] = _top5_error(est.predict_proba(x_test), est.classes_, y_test)
    elif hasattr(est, "coef_"):
        metrics["top5_error"] = _top5_error(est.decision_function(x_test), est.classes_, y_test)
    log.info("    fitted in %.1f s; test error %.2f%%", fit_s, metrics["top1_error"])
    return RunResult(
        metrics=metrics,
        info={"parameters": _learned_numbers(est), "data_hash": splits.content_hash, "train_images": len(y_train),
              "train_seconds": fit_s, "estimator": repr(est)},
    )
