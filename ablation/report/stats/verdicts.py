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

MAX_HALF_WIDTH = 2.0  # points: the widest 95% interval that can say "within" / "same"

VERDICT_RULE = (
    "Verdict (needs at least 3 seeds): within = the paper's test accuracy lies inside our 95% "
    "interval and that interval is at most ±2 points wide; above / below = our whole interval "
    "is above / below the paper's value; anything else is inconclusive (n = seeds, ± = "
    "half-width of our interval)."
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


def paper_verdict(
    values, paper: float, max_half_width: float = MAX_HALF_WIDTH, min_n: int = MIN_SEEDS
) -> str:
    """'within' | 'above' | 'below' | 'inconclusive (n=.., ±..)' | 'not run' (VERDICT_RULE).

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
    if iv.lo > paper:
        return "above"
    if iv.hi < paper:
        return "below"
    if iv.half_width <= max_half_width:
        return "within"
    return f"inconclusive (n={x.size}, ±{iv.half_width:.2f})"


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
