"""Effects from a model of the design, never from raw means pooled over unbalanced cells.

The metric is fitted by OLS on the factors that vary (sum-to-zero coding) with every
interaction the cells identify: terms are added by order (main effects, then two-way, ...)
and a term is left out when the cells that were run cannot tell it apart from the terms
before it (an incomplete grid), or when it would leave fewer than 2 residual degrees of
freedom (one seed per cell: the left-out interactions are then the error term).

From the fit: estimated marginal means (EMMs) over a balanced reference grid (every
combination of the observed levels, each weighted equally, whatever the seeds per cell)
and contrasts of them: a factor's marginal effect (averaged over the other factors), its
simple effects (within each level of a factor it interacts with) and its contrast within
each full setting of the others. Standard errors are heteroscedasticity-robust (HC3) when
every cell has at least 2 runs, so one failed seed widens its own cell's interval and not
the others'; with single-run cells HC3 is undefined and classical OLS errors are used.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

MIN_DF_FOR_INTERACTIONS = 2

COV_SENTENCE = {
    "HC3": "standard errors are heteroscedasticity-robust (HC3), so a noisy cell widens only "
    "its own intervals",
    "nonrobust": "standard errors are classical OLS ones (a cell with a single run makes "
    "HC3 undefined), so the error term pools every cell",
}


def _codes(n_levels: int) -> np.ndarray:
    """Sum-to-zero coding: level j < m-1 -> e_j, the last level -> -1 everywhere."""
    c = np.zeros((n_levels, n_levels - 1))
    c[: n_levels - 1] = np.eye(n_levels - 1)
    c[n_levels - 1] = -1.0
    return c


def design(frame: pd.DataFrame, levels: dict[str, list], terms: list[tuple]) -> np.ndarray:
    """The model matrix: an intercept, then each term's coded columns (products for
    interactions)."""
    n = len(frame)
    blocks = [np.ones((n, 1))]
    for term in terms:
        out = np.ones((n, 1))
        for f in term:
            index = {lv: i for i, lv in enumerate(levels[f])}
            m = _codes(len(levels[f]))[frame[f].map(index).to_numpy()]
            out = (out[:, :, None] * m[:, None, :]).reshape(n, -1)
        blocks.append(out)
    return np.hstack(blocks)


def _term_slices(levels, terms) -> dict[tuple, slice]:
    out, start = {}, 1
    for term in terms:
        width = math.prod(len(levels[f]) - 1 for f in term)
        out[term] = slice(start, start + width)
        start += width
    return out


def term_name(term: tuple) -> str:
    return " × ".join(term)


@dataclass
class EffectModel:
    """A fitted model of the design (see the module docstring)."""

    response: str
    factors: list[str]
    levels: dict[str, list]
    terms: list[tuple]
    data: pd.DataFrame  # the runs used: the response and one column per factor (str)
    beta: np.ndarray
    cov: np.ndarray
    df_resid: int
    cov_type: str  # "HC3" or "nonrobust"
    notes: list[str] = field(default_factory=list)
    #: interaction terms the cells run cannot identify (the model assumes them away)
    unidentified: list[tuple] = field(default_factory=list)
    _grid_x: tuple | None = field(default=None, repr=False)

    @property
    def testable(self) -> bool:
        return self.df_resid >= 1 and bool(np.isfinite(self.cov).all())

    @property
    def one_seed(self) -> bool:
        return int(self.data.groupby(self.factors).size().max()) <= 1

    @property
    def grid(self) -> pd.DataFrame:
        """The balanced reference grid: every combination of the observed levels."""
        combos = list(itertools.product(*(self.levels[f] for f in self.factors)))
        return pd.DataFrame(combos, columns=self.factors)

    def observed(self, selector: dict) -> pd.DataFrame:
        mask = np.ones(len(self.data), dtype=bool)
        for f, lv in selector.items():
            mask &= self.data[f].to_numpy() == lv
        return self.data[mask]

    def weights(self, selector: dict) -> np.ndarray:
        """L: the mean model row over the grid's cells that match ``selector``."""
        if self._grid_x is None:
            grid = self.grid
            self._grid_x = (grid, design(grid, self.levels, self.terms))
        grid, x = self._grid_x
        mask = np.ones(len(grid), dtype=bool)
        for f, lv in selector.items():
            mask &= grid[f].to_numpy() == lv
        return x[mask].mean(axis=0)

    def estimate(self, weights: np.ndarray) -> tuple[float, float, float]:
        """(estimate, standard error, two-sided p of estimate = 0) of ``weights @ beta``."""
        est = float(weights @ self.beta)
        if not self.testable:
            return est, math.nan, math.nan
        se = float(math.sqrt(max(weights @ self.cov @ weights, 0.0)))
        if se <= 1e-12 * max(1.0, abs(est)):
            return est, 0.0, (0.0 if abs(est) > 1e-12 else 1.0)
        return est, se, float(2 * sps.t.sf(abs(est) / se, self.df_resid))

    def term_tests(self) -> pd.DataFrame:
        """Wald F-test of each term (all its coefficients 0), with the model's covariance:
        over the balanced grid (sum coding), so a main effect is tested averaged over the
        other factors."""
        rows = []
        for term, sl in _term_slices(self.levels, self.terms).items():
            b, c = self.beta[sl], self.cov[sl, sl]
            q = len(b)
            if self.testable:
                stat = float(b @ np.linalg.pinv(c) @ b) / q
                p = float(sps.f.sf(stat, q, self.df_resid))
            else:
                stat = p = math.nan
            rows.append({"term": term_name(term), "df": q, "F": stat, "p": p})
        return pd.DataFrame(rows, columns=["term", "df", "F", "p"])

    def interacting(self, factor: str) -> list[str]:
        """The factors that share an interaction term of the model with ``factor``."""
        out = {g for t in self.terms if len(t) > 1 and factor in t for g in t}
        out.discard(factor)
        return [g for g in self.factors if g in out]


def fit(data: pd.DataFrame, response: str, factors: list[str], sort_key=None) -> EffectModel:
    """Fit the model of the design (module docstring) to ``data`` (one row per run)."""
    import statsmodels.api as sm

    d = data.dropna(subset=[response]).copy()
    factors = [f for f in factors if d[f].nunique() > 1]
    for f in factors:
        d[f] = d[f].astype(str)
    levels = {
        f: sorted(d[f].unique(), key=(lambda lv, f=f: sort_key(f, lv)) if sort_key else str)
        for f in factors
    }
    terms: list[tuple] = []
    notes: list[str] = []
    unidentified: list[tuple] = []
    for k in range(1, len(factors) + 1):
        new: list[tuple] = []
        for term in itertools.combinations(factors, k):
            if k > 1 and any(s not in terms for s in itertools.combinations(term, k - 1)):
                continue  # a term above one that was left out is left out too
            x = design(d, levels, [*terms, *new, term])
            if np.linalg.matrix_rank(x) < x.shape[1]:
                notes.append(
                    f"{term_name(term)} left out: the cells that were run cannot identify it "
                    "(not every combination of its levels was run)"
                )
                unidentified.append(term)
                continue
            new.append(term)
        if not new:
            break
        width = design(d.iloc[:1], levels, [*terms, *new]).shape[1]
        if k > 1 and len(d) - width < MIN_DF_FOR_INTERACTIONS:
            notes.append(
                f"{'two' if k == 2 else k}-way interactions ({', '.join(map(term_name, new))}) "
                "left out: too few runs to estimate them and keep 2 residual degrees of freedom; "
                "their variation is the error term, so the tests assume they are negligible"
            )
            break
        terms += new
    x = design(d, levels, terms)
    y = d[response].to_numpy(float)
    df_resid = len(d) - x.shape[1]
    robust = df_resid >= 1 and int(d.groupby(factors).size().min()) >= 2 if factors else False
    model = sm.OLS(y, x)
    res = model.fit(cov_type="HC3", use_t=True) if robust else model.fit()
    cov = np.asarray(res.cov_params()) if df_resid >= 1 else np.full((x.shape[1],) * 2, np.nan)
    if df_resid < 1:
        notes.append(f"no residual degrees of freedom ({len(d)} runs): estimates without tests")
    return EffectModel(
        response,
        factors,
        levels,
        terms,
        d[[response, *factors, *(c for c in ("run_id", "seed") if c in d)]],
        np.asarray(res.params, dtype=float),
        cov,
        int(df_resid),
        "HC3" if robust else "nonrobust",
        notes,
        unidentified,
    )


def _within_text(within: dict) -> str:
    return " ".join(f"{f}={lv}" for f, lv in within.items())


def contrast(model: EffectModel, factor: str, level, baseline, within: dict, kind: str) -> dict:
    """One contrast: EMM(factor=level) - EMM(factor=baseline), both within ``within``."""
    w = model.weights({**within, factor: level}) - model.weights({**within, factor: baseline})
    est, se, p = model.estimate(w)
    return {
        "kind": kind,
        "factor": factor,
        "level": level,
        "baseline": baseline,
        "within": _within_text(within),
        "within_d": dict(within),
        "estimate": est,
        "se": se,
        "p": p,
        "df": model.df_resid,
        "n": len(model.observed({**within, factor: level})),
        "n_baseline": len(model.observed({**within, factor: baseline})),
    }


def all_contrasts(model: EffectModel) -> list[dict]:
    """Every pair of levels of every factor: marginal, then simple effects within each
    level of each factor it interacts with, then within each full setting of the other
    factors (three or more factors, both cells run)."""
    rows: list[dict] = []
    for f in model.factors:
        pairs = list(itertools.combinations(model.levels[f], 2))
        for a, b in pairs:
            rows.append(contrast(model, f, b, a, {}, "marginal"))
        for g in model.interacting(f):
            for lv in model.levels[g]:
                for a, b in pairs:
                    if len(model.observed({f: a, g: lv})) and len(model.observed({f: b, g: lv})):
                        rows.append(contrast(model, f, b, a, {g: lv}, "simple"))
        others = [g for g in model.factors if g != f]
        if len(others) >= 2 and model.interacting(f):
            for setting in itertools.product(*(model.levels[g] for g in others)):
                within = dict(zip(others, setting, strict=True))
                for a, b in pairs:
                    if len(model.observed({**within, f: a})) and len(
                        model.observed({**within, f: b})
                    ):
                        rows.append(contrast(model, f, b, a, within, "cell"))
    return rows


def emm_table(model: EffectModel, level: float = 0.95) -> pd.DataFrame:
    """EMMs with 95% intervals: per factor level (``by`` empty) and per level within each
    level of an interacting factor (``by``/``by_level``): the interaction plot's points."""
    q = sps.t.ppf(0.5 + level / 2, model.df_resid) if model.testable else math.nan
    rows = []

    def add(f, lv, by, by_level, sel):
        est, se, _ = model.estimate(model.weights(sel))
        rows.append(
            {
                "factor": f,
                "level": lv,
                "by": by,
                "by_level": by_level,
                "emm": est,
                "lo": est - q * se,
                "hi": est + q * se,
                "n": len(model.observed(sel)),
            }
        )

    for f in model.factors:
        for lv in model.levels[f]:
            add(f, lv, "", "", {f: lv})
        for g in model.interacting(f):
            for glv in model.levels[g]:
                for lv in model.levels[f]:
                    add(f, lv, g, glv, {f: lv, g: glv})
    return pd.DataFrame(rows, columns=["factor", "level", "by", "by_level", "emm", "lo", "hi", "n"])
