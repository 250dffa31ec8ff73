"""Multiplicity: declared (confirmatory) contrasts vs. the rest (exploratory), and P(better).

A study may declare its confirmatory contrasts (its config's ``contrasts``), one string each::

    init: kaiming vs random
    reg: l2 vs none within init=random
    task.alpha: 0.01 vs 0.0001 within task.loss=hinge data=42k

(``FACTOR: LEVEL vs BASELINE``, optionally ``within`` one or more ``factor=level``; the
factors not named are averaged over the balanced grid.) Holm's correction runs within the
declared family only, so a contrast gets the same p in every report that declares the same
family over the same runs; every other contrast is exploratory, Holm-corrected within the
exploratory family. Intervals are simultaneous within the row's family (Bonferroni: each
at level 1 - 0.05/m for a family of m contrasts).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from ablation.config import contrasts
from ablation.report.errors import ReportError
from ablation.report.stats.effects import EffectModel, all_contrasts, contrast

ALPHA = 0.05
MIN_SEEDS_P_BETTER = 5  # per side: fewer and P(better) is not shown
BOOTSTRAP = 1000
CONFIRMATORY, EXPLORATORY = "confirmatory", "exploratory"

FAMILY_SENTENCE = (
    "Families: contrasts the study declared (its config's contrasts, or --contrasts) are "
    "confirmatory and "
    "Holm-corrected among themselves only; every other contrast is exploratory and "
    "Holm-corrected within the exploratory family. Intervals are simultaneous within the "
    "family (Bonferroni: each at 95% / m for m contrasts)."
)
P_BETTER_SENTENCE = (
    "P(better) = the probability that a seed of the level beats a seed of the baseline in "
    "the goal's direction (all seed pairs within the same setting of the other factors, ties "
    "½, averaged over settings; rliable's probability of improvement), with a 95% percentile "
    f"bootstrap interval over seeds resampled within cells; shown only with at least "
    f"{MIN_SEEDS_P_BETTER} seeds on each side."
)


def parse_spec(text: str) -> dict:
    """'reg: l2 vs none within init=random' -> factor, level, baseline, within (dict)."""
    try:
        return contrasts.parse(text)
    except ValueError as exc:
        raise ReportError(str(exc)) from None


def _check(model: EffectModel, spec: dict, text: str) -> None:
    for f, lv in [(spec["factor"], spec["level"]), (spec["factor"], spec["baseline"])] + list(
        spec["within"].items()
    ):
        if f not in model.levels:
            raise ReportError(
                f"declared contrast {text!r}: {f!r} is not a factor that varies here; "
                f"factors: {', '.join(model.factors) or '(none)'}"
            )
        if lv not in model.levels[f]:
            raise ReportError(
                f"declared contrast {text!r}: {f} has no level {lv!r}; levels: "
                f"{', '.join(model.levels[f])}"
            )


def _key(row: dict) -> tuple:
    return (row["factor"], frozenset({row["level"], row["baseline"]}), row["within"])


def _holm(rows: list[dict]) -> None:
    ps = [r["p"] for r in rows]
    ok = [i for i, p in enumerate(ps) if p == p]
    for r in rows:
        r["p_holm"] = math.nan
    if ok:
        adj = multipletests([ps[i] for i in ok], alpha=ALPHA, method="holm")[1]
        for i, a in zip(ok, adj, strict=True):
            rows[i]["p_holm"] = float(a)


def _simultaneous(rows: list[dict], df: int) -> None:
    m = max(sum(1 for r in rows if r["se"] == r["se"]), 1)
    q = float(sps.t.ppf(1 - ALPHA / (2 * m), df)) if df >= 1 else math.nan
    for r in rows:
        r["lo"], r["hi"] = r["estimate"] - q * r["se"], r["estimate"] + q * r["se"]


def _pi(b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """P(B > A) + ½ P(B = A) over all pairs, along the last two axes."""
    bb, aa = b[..., :, None], a[..., None, :]
    return ((bb > aa).sum(axis=(-2, -1)) + 0.5 * (bb == aa).sum(axis=(-2, -1))) / (
        b.shape[-1] * a.shape[-1]
    )


def p_better(model: EffectModel, row: dict, goal: str, rng=None) -> tuple[float, float, float]:
    """(P(better), lo, hi) for a contrast row (P_BETTER_SENTENCE); NaNs below the minimum."""
    f, within = row["factor"], row["within_d"]
    data = model.observed(within)
    others = [g for g in model.factors if g != f and g not in within]
    sign = 1.0 if goal == "max" else -1.0
    pairs = []
    groups = data.groupby(others) if others else [((), data)]
    for _, g in groups:
        b = sign * g.loc[g[f] == row["level"], model.response].to_numpy(float)
        a = sign * g.loc[g[f] == row["baseline"], model.response].to_numpy(float)
        if b.size and a.size:
            pairs.append((b, a))
    if not pairs or min(min(b.size, a.size) for b, a in pairs) < MIN_SEEDS_P_BETTER:
        return math.nan, math.nan, math.nan
    point = float(np.mean([_pi(b, a) for b, a in pairs]))
    rng = rng or np.random.default_rng(0)
    boot = np.zeros(BOOTSTRAP)
    for b, a in pairs:
        bb = b[rng.integers(0, b.size, (BOOTSTRAP, b.size))]
        aa = a[rng.integers(0, a.size, (BOOTSTRAP, a.size))]
        boot += _pi(bb, aa)
    boot /= len(pairs)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return point, float(lo), float(hi)


def effects_table(model: EffectModel, goal: str, declared: list[str] = ()) -> pd.DataFrame:
    """Every contrast (``all_contrasts``) plus the declared ones, with family, Holm p within
    the family, simultaneous interval and P(better) [bootstrap interval]."""
    confirm = []
    for text in declared:
        spec = parse_spec(text)
        _check(model, spec, text)
        kind = "marginal" if not spec["within"] else "simple"
        row = contrast(model, spec["factor"], spec["level"], spec["baseline"], spec["within"], kind)
        row["declared"] = str(text).strip()
        confirm.append(row)
    taken = {_key(r) for r in confirm}
    explore = [r for r in all_contrasts(model) if _key(r) not in taken]
    for family, rows in ((CONFIRMATORY, confirm), (EXPLORATORY, explore)):
        _holm(rows)
        _simultaneous(rows, model.df_resid)
        for r in rows:
            r["family"] = family
    rng = np.random.default_rng(0)
    for r in confirm + explore:
        r["p_better"], r["p_better_lo"], r["p_better_hi"] = p_better(model, r, goal, rng)
    columns = [
        "kind", "factor", "level", "baseline", "within", "within_d", "estimate", "se", "lo",
        "hi", "p", "p_holm", "p_better", "p_better_lo", "p_better_hi", "family", "df", "n",
        "n_baseline", "declared",
    ]  # fmt: skip
    return pd.DataFrame(confirm + explore).reindex(columns=columns)
