"""The band a claim is judged against: its paper value +- a tolerance from a stated rule."""

from __future__ import annotations

from landmarks.catalog import Claim, Landmark
from landmarks.data.registry import DATASETS
from landmarks.metrics import METRICS
from landmarks.stats import binomial_floor, rounding_half_unit


def tolerance_for(lm: Landmark, claim: Claim, also: str | None = None) -> tuple[float | None, str]:
    """(tolerance, the rule that set it) for a claim's band, paper +- tolerance: a stated value
    and its reason; else the paper's reported spread; else, for a share of the test set, 1.96
    binomial standard errors of the paper's rate on the test set plus the paper's rounding.
    (None, why) when no rule applies. With `also`, the band of the claim's published value of
    that other metric (`claim.also[also]`): the stated tolerance and spread describe `paper`, so
    only the test set's rule applies."""
    if also is None and claim.tolerance is not None:
        return claim.tolerance, f"stated: {' '.join(claim.tolerance_reason.split())}"
    if also is None and claim.paper_spread is not None:
        return claim.paper_spread, "the paper's reported spread"
    info = METRICS.get(also or lm.metric_of(claim))
    paper = claim.also[also] if also else claim.paper
    n = DATASETS.get(lm.dataset).test_images if lm.dataset else 0
    if paper is not None and info.test_set_share and n:
        tol, se = binomial_floor(paper, n)
        return tol, f"1.96 x {se:.2g} (binomial, N = {n:,}) + rounding {rounding_half_unit(paper):g}"
    return None, f"no rule gives a tolerance for metric {info.name!r}{'' if n else ' without a test set'}"
