"""Top-k error against hand-computed cases; the chance level."""

import pytest
import torch

from landmarks.metrics import at_chance, chance_error, error_percent, topk_correct


def test_hand_computed_top1_top2():
    logits = torch.tensor([
        [0.1, 0.7, 0.2],  # top1 = 1, top2 = {1, 2}
        [0.5, 0.3, 0.2],  # top1 = 0, top2 = {0, 1}
        [0.2, 0.2, 0.6],  # top1 = 2, top2 = {2, 0}
        [0.3, 0.3, 0.4],  # top1 = 2, top2 = {2, 0}
    ])
    y = torch.tensor([1, 1, 0, 1])
    assert topk_correct(logits, y, (1, 2)) == {1: 1, 2: 3}
    err = error_percent(topk_correct(logits, y, (1, 2)), len(y))
    assert err["top1_error"] == pytest.approx(75.0)
    assert err["top2_error"] == pytest.approx(25.0)


def test_ties_are_not_counted_as_correct_for_every_class():
    # a constant output ties all classes: it is right for exactly the first k classes
    logits = torch.zeros(4, 4)
    y = torch.tensor([0, 1, 2, 3])
    assert topk_correct(logits, y, (1, 2, 3)) == {1: 1, 2: 2, 3: 3}


def test_k_larger_than_number_of_classes_counts_everything():
    logits = torch.tensor([[0.9, 0.1], [0.9, 0.1]])
    y = torch.tensor([1, 1])
    assert error_percent(topk_correct(logits, y, (1, 5)), len(y)) == {"top1_error": 100.0, "top5_error": 0.0}


def test_chance_level():
    assert chance_error(10) == 90.0 and chance_error(2) == 50.0
    assert at_chance(90.0, 10) and at_chance(86.0, 10) and at_chance(91.2, 10)  # worse than chance too
    assert not at_chance(80.0, 10) and not at_chance(0.9, 10)
    assert at_chance(48.0, 2) and not at_chance(45.0, 2)
    with pytest.raises(ValueError, match="num_classes"):
        at_chance(90.0, 1)
