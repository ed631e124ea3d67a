"""Verdicts: does the reproduced number hold the paper's claim?

- `reproduced`: the mean over seeds is within the tolerance of the paper's value, or better
  (for bounds: every run is on the right side; for orderings: the means are in the claimed order);
- `not reproduced`: it is not;
- `reduced budget`: the runs used less than the paper's recipe, so they are not comparable;
- `-`: nothing to check (a row without a published value).
"""

from __future__ import annotations

from typing import Sequence

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
REDUCED = "reduced budget"
NO_CLAIM = "-"


def claim_verdict(
    check: str,
    paper: float | None,
    values: Sequence[float],
    tolerance: float,
    lower_is_better: bool,
    reduced_budget: bool,
) -> str:
    if paper is None or not values:
        return NO_CLAIM
    if reduced_budget:
        return REDUCED
    if check == "all_at_most":
        ok = all(v <= paper + tolerance for v in values)
    elif check == "all_at_least":
        ok = all(v >= paper - tolerance for v in values)
    else:
        mean = sum(values) / len(values)
        ok = mean <= paper + tolerance if lower_is_better else mean >= paper - tolerance
    return REPRODUCED if ok else NOT_REPRODUCED


def ordering_verdict(means: Sequence[float], lower_is_better: bool, reduced_budget: bool) -> str:
    """`means` listed from the claimed worst to the claimed best."""
    if len(means) < 2:
        return NO_CLAIM
    if reduced_budget:
        return REDUCED
    pairs = zip(means, means[1:])
    ok = all(a > b for a, b in pairs) if lower_is_better else all(a < b for a, b in pairs)
    return REPRODUCED if ok else NOT_REPRODUCED
