"""The statistics behind a verdict: an interval that fits the metric, the tolerance rule, and the
test that decides an ordering.

- Continuous metrics (test error over seeds): Student's t-interval of the mean, clipped to the
  metric's range. Binary metrics (a run solved XOR or did not): the share of runs, with the
  Clopper-Pearson (exact binomial) interval, which never leaves [0, 1].
- Tolerance, in this order: a value the catalog states with its reason; the spread the paper
  reports for its own runs; else the paper's own measurement noise, 1.96 binomial standard errors
  of its error rate on the test set (sqrt(p (1 - p) / N)), plus half a unit of the paper's last
  written digit.
- Orderings: a one-sided Welch t-test for each neighbouring pair of claims; the largest p-value
  decides (one-sample t against a deterministic claim run once; none for two such claims).
- Ratios (AlexNet Fig. 1, tanh epochs over ReLU epochs): the delta method on the log of the
  ratio of means. Not a bootstrap: with 3 to 5 seeds per group a bootstrap has a few hundred
  distinct resamples and its percentile interval is too narrow; the delta method gives the same
  interval on every machine, and on the log scale it is asymmetric as a ratio's spread is
  (tests/test_cifar_cpu.py measures its coverage). A ratio read off a figure or written in words
  ("about 6", "six times") holds for any value that rounds to it: +- half a unit of its last digit.
- Seeds needed: the fewest seeds whose 95% interval, at the seeds' measured spread, fits inside
  the band (`seeds_needed`): what a claim needs before a verdict can say `reproduced`.
- Epochs to a threshold: read off a run's training-error curve between the epochs around the
  crossing (`threshold_crossing`); a run that never reaches it is censored, not given a number.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Sequence

import numpy as np
from scipy import stats

LEVEL = 0.95
ALPHA = 0.05
Z95 = 1.959963984540054  # two-sided 95% normal quantile
MAX_SEEDS = 100_000  # beyond this many seeds a band is out of reach: no number is given


def interval(values: Sequence[float], kind: str, bounds: tuple[float, float],
             deterministic: bool = False) -> tuple[float, float]:
    """The 95% interval of the mean of `values`; (nan, nan) when one run of a seeded claim
    cannot give one. A deterministic claim (run once, its result does not depend on the seed)
    has the point itself."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan)
    if kind == "binary":
        return _clopper_pearson(int(round(sum(values))), n)
    mean = float(np.mean(values))
    if n == 1:
        return (mean, mean) if deterministic else (math.nan, math.nan)
    sem = float(np.std(values, ddof=1)) / math.sqrt(n)
    if sem == 0:
        return (mean, mean)
    low, high = stats.t.interval(LEVEL, n - 1, loc=mean, scale=sem)
    return (max(float(low), bounds[0]), min(float(high), bounds[1]))


def _clopper_pearson(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(LEVEL, method="exact")
    return (float(ci.low), float(ci.high))


def rounding_half_unit(paper: float) -> float:
    """Half a unit of the last digit the paper wrote: 0.95 -> 0.005, 4.7 -> 0.05, 12 -> 0.05."""
    exponent = Decimal(repr(float(paper))).normalize().as_tuple().exponent
    return 0.5 * 10.0 ** min(int(exponent), -1)


def binomial_floor(paper_percent: float, test_images: int) -> tuple[float, float]:
    """(tolerance, standard error) in percentage points for an error rate measured on
    `test_images` images: 1.96 standard errors plus the paper's rounding."""
    p = paper_percent / 100.0
    se = 100.0 * math.sqrt(p * (1.0 - p) / test_images)
    return Z95 * se + rounding_half_unit(paper_percent), se


def ordering_p_value(groups: Sequence[Sequence[float]], lower_is_better: bool, deterministic: Sequence[bool]
                     ) -> tuple[float, float]:
    """(p for the claimed order: the largest over neighbouring pairs; p for a reversed pair: the
    smallest). The claim holds when the first is below ALPHA and fails when the second is.
    Groups go from the claimed worst to the claimed best."""
    p_claimed, p_reverse = 0.0, 1.0
    pairs = list(zip(groups, deterministic))
    for (a, a_fixed), (b, b_fixed) in zip(pairs, pairs[1:]):
        # the claim: the worse one (a) has the higher value for an error, the lower for an accuracy
        (hi, hi_fixed), (lo, lo_fixed) = ((a, a_fixed), (b, b_fixed)) if lower_is_better else ((b, b_fixed), (a, a_fixed))
        p_claimed = max(p_claimed, _greater(list(hi), list(lo), hi_fixed, lo_fixed))
        p_reverse = min(p_reverse, _greater(list(lo), list(hi), lo_fixed, hi_fixed))
    return p_claimed, p_reverse


def _greater(a: list[float], b: list[float], a_fixed: bool, b_fixed: bool) -> float:
    """One-sided p-value that mean(a) > mean(b)."""
    if len(a) < 2 and len(b) < 2:
        if a_fixed and b_fixed:  # two deterministic results: no seed noise to test against
            return 0.0 if a[0] > b[0] else 1.0
        return 1.0
    if _constant(a) and _constant(b):
        return 0.0 if np.mean(a) > np.mean(b) else 1.0
    if len(b) < 2:
        return float(stats.ttest_1samp(a, b[0], alternative="greater").pvalue) if b_fixed else 1.0
    if len(a) < 2:
        return float(stats.ttest_1samp(b, a[0], alternative="less").pvalue) if a_fixed else 1.0
    # a group whose seeds all ended alike (an SVC on shuffled data): Welch's test with its variance
    # 0 is the one-sample test of the other group; scipy would compute that variance from digits
    # that cancel and warn
    if _constant(b):
        return float(stats.ttest_1samp(a, float(np.mean(b)), alternative="greater").pvalue)
    if _constant(a):
        return float(stats.ttest_1samp(b, float(np.mean(a)), alternative="less").pvalue)
    return float(stats.ttest_ind(a, b, equal_var=False, alternative="greater").pvalue)


def _constant(x: list[float]) -> bool:
    """All values equal but for float noise (10.14 read back as 10.139999999999999)."""
    return float(np.ptp(x)) <= 1e-9 * max(1.0, abs(float(np.mean(x))))


def ratio_interval(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """95% interval of mean(a) / mean(b) for two independent groups of positive values (AlexNet
    Fig. 1: tanh epochs over ReLU epochs): the delta method on the log of the ratio, with Welch's
    degrees of freedom. (nan, nan) when a group has fewer than two runs or a mean is not positive."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or a.mean() <= 0 or b.mean() <= 0:
        return (math.nan, math.nan)
    va, vb = a.var(ddof=1) / (len(a) * a.mean() ** 2), b.var(ddof=1) / (len(b) * b.mean() ** 2)
    log_ratio = math.log(a.mean() / b.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return (math.exp(log_ratio), math.exp(log_ratio))
    df = (va + vb) ** 2 / ((va**2 / (len(a) - 1) if va else 0.0) + (vb**2 / (len(b) - 1) if vb else 0.0))
    t = stats.t.ppf(0.5 + LEVEL / 2, df)
    return (math.exp(log_ratio - t * se), math.exp(log_ratio + t * se))


def stated_number_tolerance(value: float) -> tuple[float, str]:
    """(tolerance, rule) for a number read off a figure or written in words ("about 6", "six
    times"): any value that rounds to it, half a unit of its last written digit (6 -> 0.5,
    2.5 -> 0.05, 60 -> 5)."""
    exponent = int(Decimal(repr(float(value))).normalize().as_tuple().exponent)
    tol = 0.5 * 10.0**exponent
    return tol, f"read off a figure or written in words: values that round to {value:g} (± {tol:g})"


def seeds_needed(values: Sequence[float], kind: str, centre: float, band: tuple[float, float]) -> int | None:
    """The fewest seeds whose 95% interval around `centre`, at the spread of `values`, fits inside
    `band`; None without a spread (fewer than two runs), when `centre` is on or outside an edge,
    or beyond MAX_SEEDS. Binary runs (solved or not) use Clopper-Pearson at the share `centre`."""
    margin = min(centre - band[0], band[1] - centre)
    if len(values) < 2 or not margin > 0:
        return None
    if kind == "binary":
        return _seeds_for_share(centre, band)
    return _seeds_for_spread(float(np.std(values, ddof=1)), margin)


def ratio_seeds_needed(a: Sequence[float], b: Sequence[float], centre: float, band: tuple[float, float]
                       ) -> int | None:
    """seeds_needed for the ratio mean(a) / mean(b), seeds per group, on the log scale of
    ratio_interval; None as seeds_needed, or for a mean that is not positive."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2 or len(b) < 2 or a.mean() <= 0 or b.mean() <= 0 or centre <= 0 or band[0] <= 0:
        return None
    margin = min(math.log(centre / band[0]), math.log(band[1] / centre))
    if not margin > 0:
        return None
    spread = math.sqrt(a.var(ddof=1) / a.mean() ** 2 + b.var(ddof=1) / b.mean() ** 2)
    return _seeds_for_spread(spread, margin)


def _seeds_for_spread(spread: float, margin: float) -> int | None:
    """The fewest n >= 2 with t(n - 1) * spread / sqrt(n) <= margin."""
    n = max(2, math.ceil((Z95 * spread / margin) ** 2))
    while n <= MAX_SEEDS and stats.t.ppf(0.5 + LEVEL / 2, n - 1) * spread / math.sqrt(n) > margin:
        n += max(1, n // 200)  # t falls towards the normal quantile: a few steps from the estimate
    return n if n <= MAX_SEEDS else None


def _seeds_for_share(share: float, band: tuple[float, float]) -> int | None:
    """The fewest n whose Clopper-Pearson interval at round(share * n) successes fits inside band
    (searched in steps of 1% above 100 seeds: the answer is "about" n)."""
    n = 2
    while n <= MAX_SEEDS:
        low, high = _clopper_pearson(round(share * n), n)
        if low >= band[0] and high <= band[1]:
            return n
        n += max(1, n // 100)
    return None


def threshold_crossing(curve: Sequence[tuple[float, float]], threshold: float) -> float | None:
    """The epoch, a fraction of one, at which an error curve [(epoch, error), ...] first reaches
    `threshold`: linear between the last point above it and the first at or below it, or the
    first point itself when that is already at or below. None when no point reaches it: the run
    is censored (it would have crossed later, or never), and no made-up epoch stands for it."""
    before = None
    for epoch, error in curve:
        if math.isnan(error):  # an epoch without a training error (none was measured): no point
            continue
        if error <= threshold:
            if before is None:
                return float(epoch)
            e0, y0 = before
            return e0 + (y0 - threshold) / (y0 - error) * (epoch - e0)
        before = (epoch, error)
    return None
