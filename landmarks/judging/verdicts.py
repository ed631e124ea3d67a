"""Verdicts: what a careful reader may say of a claim, decided on its 95% interval.

Every row says two things. Its **result**, computed whatever the recipe: where the interval lies
against the band (paper +- tolerance; `landmarks.stats` says how the tolerance is set):

- `inside the band`, `below the band`, `above the band`;
- `more seeds needed`: the mean lies in the band but the interval crosses an edge (the table
  gives about how many seeds would fit it inside, at the seeds' measured spread);
- `touches the band`: the mean lies outside the band and the interval reaches into it.

And the **fidelity** of its recipe: `paper`, `paper, minor departures` (each named with why it
cannot move the number by the tolerance), `modified recipe`, `reduced budget`, or both of the
last two. Only at `paper` or `paper, minor departures` does the result become a verdict on the
paper's number: `reproduced` (inside), `better than paper` or `not reproduced` (beyond the band
on that side; a number far better than the paper's says the recipe is not the paper's either),
`inconclusive: more seeds needed` or `inconclusive: touches the band`. Elsewhere the verdict
names both: `modified recipe; below the band`.

A ratio the paper states ("about 6") is judged the same way: the ratio's interval against its
band, where both sides are `not reproduced`. An ordering is decided by a test on the runs:
`reproduced` (p < 0.05 for the claimed order), `inconclusive` (not significant), and `reversed`
when a neighbouring pair is significantly the other way round, under every fidelity, since no
budget makes a reversed order a success. A bound that every run must respect (a theorem, such as
Novikoff's) is a check, not a reproduction: `check: holds` or `check: violated`. The results a
paper cites for comparison (`references`) are shown as published: `not re-run`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from landmarks.catalog import MINOR, PAPER
from landmarks.stats import ALPHA

REPRODUCED = "reproduced"
BETTER = "better than paper"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
REVERSED = "reversed"
HOLDS = "check: holds"
VIOLATED = "check: violated"
NO_CLAIM = "no paper value"  # a row the paper gives no number for (an ordering's member, say)
CITED = "not re-run"  # a result the paper cites for comparison (catalog `references`), shown as published

MORE_SEEDS = "more seeds needed"
TOUCHES = "touches the band"
IN_ORDER = "in the claimed order"
ORDER_OPEN = "order not decided"

# what colours a row, from its result alone: it agrees with the paper, lies beyond the band on the
# better or the worse side (a reversed order is worse), or is open (more seeds would decide)
AGREES, BETTER_SIDE, WORSE_SIDE, OPEN = "agrees", "better", "worse", "open"

EXPLAINED = (
    "Each row gives its result against the band paper ± tolerance, on the 95% interval of the mean over "
    "seeds (t for errors, Clopper-Pearson for shares of runs, the delta method for ratios): inside, below or "
    "above the band, `more seeds needed` (the mean in the band, the interval across an edge; about how many "
    "seeds would fit it inside) or `touches the band` (the mean outside it, the interval reaching in). Only "
    "a recipe at the paper's fidelity (`paper`, or `paper, minor departures`, each departure named with why it "
    "cannot move the number by the tolerance) turns that into `reproduced`, `better than paper`, `not "
    "reproduced` or `inconclusive`; any other row names its recipe and its result (`modified recipe; below "
    "the band`). Colours follow the result. Orderings are decided by one-sided Welch t-tests (p in the "
    "table) and say `reversed`, with its p, under any recipe when a pair is significantly the other way "
    "round; `check` rows are bounds every run must respect, counted apart; `not re-run` rows are results "
    "the paper reports for comparison, shown as published."
)


@dataclass(frozen=True)
class Judgement:
    """A row's verdict, its result whatever the recipe, the outcome that colours it, and where
    its interval lies against the band (inside, below, above, crosses; '' without one)."""

    verdict: str
    result: str = ""
    outcome: str = ""
    position: str = ""


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


def claim_band(check: str, paper: float, tolerance: float | None) -> tuple[float, float]:
    """The values that agree with a claim: paper +- tolerance, or one side of a bound the paper
    states in words (`mean_above`: most seeds solve it, a share above 0.5)."""
    if check == "mean_above":
        return (paper, math.inf)
    if check == "mean_below":
        return (-math.inf, paper)
    return (paper - (tolerance or 0.0), paper + (tolerance or 0.0))


def _said(fidelity: str, at_paper: str, result: str) -> str:
    """The verdict a recipe of this fidelity may give: the paper's word, or the recipe and the result."""
    return at_paper if fidelity in (PAPER, MINOR) else f"{fidelity}; {result}"


def judge_band(mean: float, interval: tuple[float, float], band: tuple[float, float], lower_is_better: bool | None,
               fidelity: str = PAPER) -> Judgement:
    """A value's interval against its band. `lower_is_better` None: beyond the band is worse on
    both sides (a ratio the paper gives as "about 6")."""
    position = band_position(*interval, *band)
    if position in ("below", "above"):
        better = {True: "below", False: "above"}.get(lower_is_better)
        outcome = BETTER_SIDE if position == better else WORSE_SIDE
        result, at_paper = f"{position} the band", BETTER if outcome == BETTER_SIDE else NOT_REPRODUCED
    elif position == "inside":
        result, outcome, at_paper = "inside the band", AGREES, REPRODUCED
    else:  # across an edge, or no interval yet (one seeded run): more seeds decide
        result = TOUCHES if position and not band[0] <= mean <= band[1] else MORE_SEEDS
        outcome, at_paper = OPEN, f"{INCONCLUSIVE}: {result}"
    return Judgement(_said(fidelity, at_paper, result), result, outcome, position)


def claim_verdict(check: str, paper: float | None, values: Sequence[float], tolerance: float | None,
                  interval: tuple[float, float], lower_is_better: bool, fidelity: str = PAPER) -> Judgement:
    if paper is None or not values:
        return Judgement(NO_CLAIM)
    if check in ("all_at_most", "all_at_least"):
        holds = all(v <= paper for v in values) if check == "all_at_most" else all(v >= paper for v in values)
        return Judgement(HOLDS if holds else VIOLATED, "holds" if holds else "violated")
    mean = sum(values) / len(values)
    return judge_band(mean, interval, claim_band(check, paper, tolerance), lower_is_better, fidelity)


def ordering_verdict(p_claimed: float, p_reverse: float, fidelity: str = PAPER) -> Judgement:
    if p_reverse < ALPHA:  # under any budget: a reduced one may fail to show an order, not turn it round
        return Judgement(REVERSED, REVERSED, WORSE_SIDE)
    if p_claimed < ALPHA:
        return Judgement(_said(fidelity, REPRODUCED, IN_ORDER), IN_ORDER, AGREES)
    return Judgement(_said(fidelity, INCONCLUSIVE, ORDER_OPEN), ORDER_OPEN, OPEN)


def ratio_verdict(ratio: float, interval: tuple[float, float], band: tuple[float, float], p_claimed: float,
                  p_reverse: float, fidelity: str = PAPER) -> Judgement:
    """A ratio claim (tanh epochs over ReLU epochs, about 6): a reversed order says so; else the
    ratio's interval against its band, where a ratio too large is as far off as one too small."""
    order = ordering_verdict(p_claimed, p_reverse, fidelity)
    if order.verdict == REVERSED:
        return order
    return judge_band(ratio, interval, band, None, fidelity)


def is_check(verdict: str) -> bool:
    return verdict.startswith("check:")
