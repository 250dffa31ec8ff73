"""Contrasts between the levels of each factor, within every setting of the other factors.

For each factor, each pair of its levels, and each combination of the other factors where
both levels have at least MIN_SEEDS finished seeds: the difference of mean test accuracy
with a 95% Welch interval, the probability of improvement P(B > A) over all seed pairs
(rliable's definition, the Mann-Whitney U / (n_A n_B); ties count 1/2), Welch's t-test
p-value, and a Holm correction across every contrast of the report. Seeds are not paired
across levels: Welch's test is valid whether or not runs with the same seed are correlated.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from ablation.report.stats.intervals import LEVEL, MIN_SEEDS, finite

ALPHA = 0.05
CONTRAST_RULE = (
    "Contrasts: for each factor, each pair of its levels is compared within every setting of "
    "the other factors where both levels have at least 3 finished seeds. Difference = mean of "
    "B − mean of A in points with its 95% Welch interval (unpaired: seeds are not matched "
    "across levels); P(better) = the share of all (B seed, A seed) pairs in which B scores "
    "higher, ties counting ½ (rliable's probability of improvement); p from Welch's t-test, "
    "Holm-corrected across all contrasts in this report. 'beats' only when Holm p < 0.05. "
    "(A permutation test is not used: with 5 seeds a side its smallest p is 0.008, which no "
    "Holm correction over a grid's contrasts lets through.)"
)
COLUMNS = [
    "factor",
    "a",
    "b",
    "at",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "diff",
    "lo",
    "hi",
    "p_better",
    "p",
    "p_holm",
]


def probability_of_improvement(b, a) -> float:
    """P(B > A) over all seed pairs, ties 1/2: Mann-Whitney U of B over n_B * n_A."""
    x, y = finite(b), finite(a)
    if x.size == 0 or y.size == 0:
        return math.nan
    u = sps.mannwhitneyu(x, y, alternative="two-sided").statistic
    return float(u) / (x.size * y.size)


def contrast(b, a, level: float = LEVEL) -> dict:
    """Difference mean(B) - mean(A), its Welch interval, P(B > A) and Welch's p (unadjusted)."""
    x, y = finite(b), finite(a)
    diff = float(x.mean() - y.mean())
    if np.ptp(x) == 0 and np.ptp(y) == 0:  # no spread at all: the difference is exact
        lo = hi = diff
        p = 1.0 if diff == 0 else 0.0
    else:
        test = sps.ttest_ind(x, y, equal_var=False)
        ci = test.confidence_interval(level)
        lo, hi, p = float(ci.low), float(ci.high), float(test.pvalue)
    return {
        "n_a": int(y.size),
        "n_b": int(x.size),
        "mean_a": float(y.mean()),
        "mean_b": float(x.mean()),
        "diff": diff,
        "lo": max(lo, -100.0),
        "hi": min(hi, 100.0),
        "p_better": probability_of_improvement(x, y),
        "p": p,
    }


def _setting_key(others: list[str], key, sort_key) -> tuple:
    key = key if isinstance(key, tuple) else (key,)
    return tuple(sort_key(f, lv) for f, lv in zip(others, key, strict=True))


def _setting(others: list[str], key) -> str:
    key = key if isinstance(key, tuple) else (key,)
    return ", ".join(f"{f}={lv}" for f, lv in zip(others, key, strict=True))


def contrasts(
    data: pd.DataFrame,
    response: str,
    factors: list[str],
    sort_key=None,
    min_n: int = MIN_SEEDS,
) -> pd.DataFrame:
    """Every contrast of the report as one row (COLUMNS), Holm-corrected across all of them.

    ``a`` is the earlier level in ``sort_key`` order (the baseline), ``b`` the later one;
    ``at`` names the setting of the other factors ('' when there are none). Settings where
    either level has fewer than ``min_n`` seeds are skipped.
    """
    d = data.dropna(subset=[response])
    factors = [f for f in factors if d[f].nunique() > 1]
    rows = []
    for factor in factors:
        others = [f for f in factors if f != factor]
        levels = list(d[factor].unique())
        levels.sort(key=functools.partial(sort_key, factor) if sort_key else str)
        groups = list(d.groupby(others, sort=True)) if others else [((), d)]
        if sort_key and others:
            groups.sort(key=lambda kg: _setting_key(others, kg[0], sort_key))
        for key, g in groups:
            by_level = {lv: g.loc[g[factor] == lv, response].to_numpy(float) for lv in levels}
            for a, b in itertools.combinations(levels, 2):
                if min(len(by_level[a]), len(by_level[b])) < min_n:
                    continue
                row = {"factor": factor, "a": a, "b": b, "at": _setting(others, key)}
                row.update(contrast(by_level[b], by_level[a]))
                rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS[:-1])
    if table.empty:
        return table.assign(p_holm=pd.Series(dtype=float))
    table["p_holm"] = multipletests(table["p"].to_numpy(), alpha=ALPHA, method="holm")[1]
    return table


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def contrast_sentence(row, what: str = "points", alpha: float = ALPHA) -> str:
    """'init=kaiming beats init=random at reg=l2, data=60k by 2.4 points [1.9, 2.9],
    P(better) = 0.98, Holm p = 0.003.' ('no clear difference' when Holm p >= alpha)."""
    f, a, b = row["factor"], row["a"], row["b"]
    where = f" at {row['at']}" if row["at"] else ""
    stats = f"P(better) = {row['p_better']:.2f}, Holm p {_p_text(row['p_holm'])}"
    if row["p_holm"] < alpha:
        if row["diff"] >= 0:
            win, lose, d, lo, hi = b, a, row["diff"], row["lo"], row["hi"]
        else:  # say it from the winner's side: the interval flips
            win, lose, d, lo, hi = a, b, -row["diff"], -row["hi"], -row["lo"]
            stats = f"P(better) = {1 - row['p_better']:.2f}, Holm p {_p_text(row['p_holm'])}"
        return f"{f}={win} beats {f}={lose}{where} by {d:.1f} {what} [{lo:.1f}, {hi:.1f}], {stats}."
    return (
        f"{f}={b} vs {f}={a}{where}: no clear difference, {row['diff']:+.1f} {what} "
        f"[{row['lo']:+.1f}, {row['hi']:+.1f}], {stats}."
    )
