"""Verdicts: what a careful reader may say of a claim, decided on its 95% interval.

A claim's band is the paper's value +- its tolerance (`landmarks.stats` says how the
tolerance is set). For a claim run at the paper's recipe:

- `reproduced`: the interval lies inside the band;
- `better than paper`: entirely on the better side of it (a number that far from the paper's
  says the recipe is not the paper's: the paper's number was not reproduced either);
- `not reproduced`: entirely on the worse side;
- `inconclusive`: it crosses an edge of the band; more seeds would decide.

A profile that runs less than the paper's recipe says `reduced budget`, one that runs another
recipe `modified recipe`, whatever the interval. A bound that every run must respect (a theorem,
such as Novikoff's) is a check, not a reproduction: `check: holds` or `check: violated`. An
ordering is decided by a test on the runs: `reproduced` when p < 0.05 for the claimed order,
`not reproduced` when a neighbouring pair is significantly reversed, else `inconclusive`.
The results a paper cites for comparison (`references`) are shown as published: `not re-run`.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

from landmarks.stats import ALPHA

REPRODUCED = "reproduced"
BETTER = "better than paper"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
REDUCED = "reduced budget"
MODIFIED = "modified recipe"
HOLDS = "check: holds"
VIOLATED = "check: violated"
NO_CLAIM = "-"
CITED = "not re-run"  # a result the paper cites for comparison (catalog `references`), shown as published

Budget = Literal["paper", "reduced budget", "modified recipe"]
EXPLAINED = (
    "Each verdict is decided on the 95% interval of the mean over seeds (t for errors, "
    "Clopper-Pearson for shares of runs) against the band paper ± tolerance: `reproduced` inside it, "
    "`better than paper` or `not reproduced` entirely on one side, `inconclusive` across an edge "
    "(more seeds would decide). `reduced budget` and `modified recipe` rows did not run the paper's "
    "recipe and claim nothing about its number; `check` rows are bounds every run must respect, "
    "counted apart; orderings are decided by one-sided Welch t-tests (p in the table); `not re-run` rows are "
    "results the paper reports for comparison, shown as published."
)


def band_position(low: float, high: float, band_low: float, band_high: float) -> str:
    """Where an interval lies against the band: inside, below, above, crosses (or '' without one)."""
    if math.isnan(low) or math.isnan(high):
        return ""
    if low >= band_low and high <= band_high:
        return "inside"
    if high < band_low:
        return "below"
    if low > band_high:
        return "above"
    return "crosses"


def claim_verdict(check: str, paper: float | None, values: Sequence[float], tolerance: float | None,
                  interval: tuple[float, float], lower_is_better: bool, budget: Budget = "paper") -> tuple[str, str]:
    """(verdict, where the interval lies against the band)."""
    if paper is None or not values:
        return NO_CLAIM, ""
    if check == "all_at_most":
        return (HOLDS if all(v <= paper for v in values) else VIOLATED), ""
    if check == "all_at_least":
        return (HOLDS if all(v >= paper for v in values) else VIOLATED), ""
    position = band_position(*interval, paper - (tolerance or 0.0), paper + (tolerance or 0.0))
    if budget != "paper":
        return budget, position
    better, worse = ("below", "above") if lower_is_better else ("above", "below")
    return {"inside": REPRODUCED, better: BETTER, worse: NOT_REPRODUCED}.get(position, INCONCLUSIVE), position


def ordering_verdict(p_claimed: float, p_reverse: float, budget: Budget = "paper") -> str:
    if budget != "paper":
        return budget
    if p_claimed < ALPHA:
        return REPRODUCED
    return NOT_REPRODUCED if p_reverse < ALPHA else INCONCLUSIVE


def is_check(verdict: str) -> bool:
    return verdict.startswith("check:")
