"""Novikoff's bound holds for the perceptron rule on generated separable sets."""

import numpy as np
import pytest
import torch

from landmarks.models import create_model
from landmarks.tasks.convergence import max_margin, novikoff_bound, separable_set
from landmarks.train.steps.perceptron import perceptron_epoch


@pytest.mark.parametrize("n,dim,margin", [(50, 2, 0.2), (300, 2, 0.05), (400, 5, 0.1), (800, 20, 0.02), (200, 50, 0.05)])
def test_mistakes_never_exceed_bound(n, dim, margin):
    for seed in range(8):
        x, y, w = separable_set(n, dim, margin, seed)
        radius, gamma, bound = novikoff_bound(x, y, w)
        assert gamma >= margin - 1e-12 and radius <= 1.0 + 1e-9
        model = create_model("perceptron", (dim,), 2, bias=False)
        xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y)
        generator = torch.Generator().manual_seed(seed)
        mistakes = 0
        for _ in range(10_000):
            made = perceptron_epoch(model, xt, yt, generator)
            mistakes += made
            if made == 0:
                break
        assert made == 0, "the rule converges on separable data"
        assert mistakes <= bound
        pred = (xt @ model.linear.weight[0] > 0).long().numpy()
        assert (pred == y).all()


def test_generated_set_is_separable_with_margin():
    x, y, w = separable_set(500, 3, 0.1, seed=1)
    assert x.shape == (500, 3)
    assert np.all(np.abs(x @ w) >= 0.1)
    assert set(np.unique(y)) == {0, 1}


def test_the_largest_margin_gives_the_tightest_bound():
    for seed in range(3):
        x, y, w = separable_set(400, 5, 0.05, seed)
        radius, gamma, bound = novikoff_bound(x, y, w)
        gamma_star = max_margin(x, y)
        assert gamma_star >= gamma - 1e-9  # no separator through 0 has a larger margin than the SVM's
        model = create_model("perceptron", (5,), 2, bias=False)
        xt, yt = torch.from_numpy(x).float(), torch.from_numpy(y)
        generator = torch.Generator().manual_seed(seed)
        mistakes = 0
        while (made := perceptron_epoch(model, xt, yt, generator)):
            mistakes += made
        assert mistakes <= (radius / gamma_star) ** 2 <= bound
