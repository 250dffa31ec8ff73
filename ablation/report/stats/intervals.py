"""Intervals and centres over seeds, always inside the metric's range.

The report's intervals are 95% t-intervals of the mean over seeds, clipped to the metric's
range ([0, 100] for accuracies in %). A simulated coverage check (``tests/unit/
test_report_stats.py``, 400 normal samples) decides the method: the t-interval holds the
true mean 95% of the time with 5 seeds and with 3, while the percentile and BCa bootstrap
(``scipy.stats.bootstrap``) hold it only 82% / 80% of the time with 5 seeds and 70% / 67%
with 3: resampling 3-5 values cannot see spread it has not sampled. The bootstrap stays
available as ``method="percentile"`` or ``method="BCa"``.

With fewer than ``MIN_SEEDS`` values no interval is given at all: the values are shown.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy import stats as sps

MIN_SEEDS = 3  # fewer finished seeds than this: no interval, the values are shown
LEVEL = 0.95
BOOTSTRAP_RESAMPLES = 9999
BOOTSTRAP_RNG_SEED = 0  # fixed: the same runs give the same report
ACCURACY_RANGE = (0.0, 100.0)
METHODS = ("t", "percentile", "BCa")

INTERVAL_SENTENCE = (
    "Intervals: mean [95% t-interval] over seeds, clipped to [0, 100]; with 3-5 seeds it "
    "covers at the stated rate, where a percentile bootstrap covers only about 82% (5 seeds) "
    "or 70% (3 seeds). Cells with fewer than 3 finished seeds get no interval: their seeds' "
    "values are listed with n."
)


class Interval(NamedTuple):
    """``centre`` (the mean), ``lo``/``hi`` (NaN with fewer than MIN_SEEDS values), ``method``."""

    centre: float
    lo: float
    hi: float
    method: str

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


def finite(values) -> np.ndarray:
    """The values as a float array without NaNs."""
    x = np.asarray(values, dtype=float).ravel()
    return x[~np.isnan(x)]


def t_ci(values, level: float = LEVEL) -> tuple[float, float, float, int]:
    """Mean and two-sided, unclipped t-interval over seeds: ``(mean, lo, hi, n)``.

    NaNs are ignored. With fewer than two values the interval is ``(nan, nan)``. The report
    uses ``interval`` (clipped, none below MIN_SEEDS); this is its raw building block.
    """
    x = finite(values)
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    half = float(sps.t.ppf(0.5 + level / 2, df=n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, mean - half, mean + half, n


def _bootstrap(x: np.ndarray, method: str, level: float) -> tuple[float, float]:
    if np.ptp(x) == 0:  # every resample has the same mean
        return float(x[0]), float(x[0])
    res = sps.bootstrap(
        (x,),
        np.mean,
        confidence_level=level,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method=method,
        rng=np.random.default_rng(BOOTSTRAP_RNG_SEED),
    )
    lo, hi = res.confidence_interval
    return float(lo), float(hi)


def interval(
    values,
    lo_bound: float = ACCURACY_RANGE[0],
    hi_bound: float = ACCURACY_RANGE[1],
    method: str = "t",
    level: float = LEVEL,
    min_n: int = MIN_SEEDS,
) -> Interval:
    """The mean over seeds and its interval, clipped to ``[lo_bound, hi_bound]``.

    ``method``: ``"t"`` (default), ``"percentile"`` or ``"BCa"`` (scipy.stats.bootstrap with
    a fixed rng seed). With fewer than ``min_n`` values ``lo``/``hi`` are NaN and ``method``
    says why. For losses pass ``hi_bound=math.inf``.
    """
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}; choose one of: {', '.join(METHODS)}")
    x = finite(values)
    if x.size == 0:
        return Interval(math.nan, math.nan, math.nan, "no values")
    centre = float(x.mean())
    if x.size < min_n:
        return Interval(centre, math.nan, math.nan, f"none (n={x.size} < {min_n})")
    if method == "t":
        _, lo, hi, _ = t_ci(x, level)
    else:
        lo, hi = _bootstrap(x, method, level)
    lo, hi = max(lo, lo_bound), min(hi, hi_bound)
    return Interval(centre, lo, hi, method)


def robust_centre(values) -> float:
    """The median over seeds (with 3 seeds a 25%-trimmed mean, rliable's IQM, trims nothing,
    while the median already ignores one collapsed seed)."""
    x = finite(values)
    return float(np.median(x)) if x.size else math.nan


def format_values(values, digits: int = 1) -> str:
    """'86.1, 87.8 (n=2)': the seeds' own values, for cells too small for an interval."""
    x = finite(values)
    if x.size == 0:
        return "—"
    return ", ".join(f"{v:.{digits}f}" for v in x) + f" (n={x.size})"


def format_interval(values, digits: int = 2, lo_bound: float = 0.0, hi_bound: float = 100.0):
    """'86.12 [85.40, 86.90]' (mean [95% interval]); the values with n below MIN_SEEDS."""
    x = finite(values)
    if x.size < MIN_SEEDS:
        return format_values(x, digits)
    iv = interval(x, lo_bound, hi_bound)
    return f"{iv.centre:.{digits}f} [{iv.lo:.{digits}f}, {iv.hi:.{digits}f}]"
