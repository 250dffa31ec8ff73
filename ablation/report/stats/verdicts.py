"""Verdicts: where a cell stands against a paper's value, and whether its seeds decide.

``decide`` is the pure function ``seeds=auto`` calls after each round: a cell is decided
when its interval says something (against a reference value, against another cell, or
on its own) and undecided otherwise, so more seeds can be added only where they matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import stats as sps

from ablation.report.stats.intervals import LEVEL, MIN_SEEDS, finite, interval

MAX_HALF_WIDTH = 2.0  # points: the widest 95% interval that can say "same" (seeds=auto)
MARGIN = 2.0  # points: the equivalence margin of "within"
ALPHA = 0.05

VERDICT_RULE = (
    "Verdict (needs at least 3 seeds): within = an equivalence test (TOST, two one-sided "
    "t-tests at 5%) shows our mean is within ±2 points of the paper's test accuracy; above / "
    "below = our whole 95% interval is above / below the paper's value ('above (within ±2)': "
    "both hold, a difference smaller than the margin); consistent with = "
    "the interval holds the paper's value but is too wide to show equivalence (n = seeds, ± = "
    "half-width of our interval); inconclusive = fewer than 3 seeds."
)


def verdict(paper: float, mean: float, lo: float, hi: float) -> str:
    """Raw position of an interval against ``paper``: within / above / below / not run.

    No precision rule: the report uses ``paper_verdict``. Without an interval the point
    value is compared directly, so ``within`` then only happens on exact equality.
    """
    if mean is None or math.isnan(mean):
        return "not run"
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        lo = hi = mean
    if lo <= paper <= hi:
        return "within"
    return "above" if lo > paper else "below"


def tost_p(values, reference: float, margin: float = MARGIN) -> float:
    """p of the two one-sided t-tests that the mean of ``values`` lies within
    ``reference ± margin`` (the larger of the two one-sided p-values)."""
    x = finite(values)
    if x.size < 2:
        return math.nan
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    diff = float(x.mean()) - reference
    if se == 0:
        return 0.0 if abs(diff) < margin else 1.0
    df = x.size - 1
    p_low = sps.t.sf((diff + margin) / se, df)  # H0: diff <= -margin
    p_high = sps.t.cdf((diff - margin) / se, df)  # H0: diff >= +margin
    return float(max(p_low, p_high))


def paper_verdict(
    values, paper: float, max_half_width: float = MARGIN, min_n: int = MIN_SEEDS
) -> str:
    """'within' | 'above' | 'below' | 'above (within ±2)' | 'below (within ±2)' |
    'consistent with (n=.., ±..)' | 'inconclusive (...)' |
    'not run' (VERDICT_RULE); ``max_half_width`` is the equivalence margin of "within".

    ``values`` are the cell's seeds (test accuracy, %). With fewer than ``min_n`` seeds the
    verdict is always inconclusive, however the values fall.
    """
    x = finite(values)
    if x.size == 0:
        return "not run"
    if x.size < min_n:
        why = "1 seed, no CI" if x.size == 1 else f"n={x.size}, no interval below {min_n} seeds"
        return f"inconclusive ({why})"
    iv = interval(x, min_n=min_n)
    equivalent = tost_p(x, paper, max_half_width) < ALPHA
    if iv.lo > paper or iv.hi < paper:  # a difference; small enough to matter not, or not
        side = "above" if iv.lo > paper else "below"
        return f"{side} (within ±{max_half_width:g})" if equivalent else side
    if equivalent:
        return "within"
    return f"consistent with (n={x.size}, ±{iv.half_width:.2f})"


@dataclass(frozen=True)
class Decision:
    """Whether a cell's seeds decide its question, and the verdict they give."""

    decided: bool
    verdict: str
    n: int
    half_width: float
    reason: str


def decide(
    values,
    reference: float | None = None,
    other=None,
    max_half_width: float = MAX_HALF_WIDTH,
    min_n: int = MIN_SEEDS,
    level: float = LEVEL,
) -> Decision:
    """Is this cell decided? One of three questions, by what is given:

    - ``reference`` (a paper's value): decided when ``paper_verdict`` is not inconclusive;
    - ``other`` (another cell's seed values, a contrast): decided when the Welch interval
      of mean(values) - mean(other) excludes 0 (a difference) or is at most
      ``max_half_width`` wide (no difference that matters);
    - neither: decided when the cell's own interval is at most ``max_half_width`` wide.

    Never decided with fewer than ``min_n`` seeds (on either side of a contrast).
    """
    x = finite(values)
    n = int(x.size)
    if reference is not None:
        v = paper_verdict(x, reference, max_half_width, min_n)
        hw = interval(x, min_n=min_n).half_width if n >= min_n else math.inf
        # for seeds=auto an interval too wide to decide is still open, whatever it holds
        v = v.replace("consistent with (", "inconclusive (")
        decided = not v.startswith(("inconclusive", "not run"))
        return Decision(decided, v, n, hw, f"vs reference {reference:g}: {v}")
    if other is not None:
        y = finite(other)
        if min(n, y.size) < min_n:
            why = f"fewer than {min_n} seeds (n={n} vs {y.size})"
            return Decision(False, "inconclusive", n, math.inf, why)
        ci = sps.ttest_ind(x, y, equal_var=False).confidence_interval(level)
        hw = float(ci.high - ci.low) / 2
        if ci.low > 0 or ci.high < 0:
            word = "better" if ci.low > 0 else "worse"
            return Decision(True, word, n, hw, f"difference [{ci.low:.2f}, {ci.high:.2f}]")
        if hw <= max_half_width:
            return Decision(True, "same", n, hw, f"difference within ±{hw:.2f} of 0")
        return Decision(False, "inconclusive", n, hw, f"difference ±{hw:.2f} includes 0")
    if n < min_n:
        return Decision(False, "inconclusive", n, math.inf, f"fewer than {min_n} seeds (n={n})")
    hw = interval(x, min_n=min_n, level=level).half_width
    decided = hw <= max_half_width
    word = "decided" if decided else "inconclusive"
    return Decision(decided, word, n, hw, f"interval ±{hw:.2f} vs limit ±{max_half_width:g}")
