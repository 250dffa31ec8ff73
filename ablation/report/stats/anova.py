"""Type-II ANOVA over runs (the report's overview test) and its plain-language sentences."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


def format_p(p: float) -> str:
    if p is None or math.isnan(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


@dataclass
class AnovaResult:
    """An ANOVA table (term, df, sum_sq, F, p, partial_eta2) and how it was obtained."""

    table: pd.DataFrame
    formula: str
    df_resid: float
    notes: list[str] = field(default_factory=list)
    fitted: bool = True

    def __repr__(self) -> str:
        return f"AnovaResult({self.formula!r}, df_resid={self.df_resid}, terms={len(self.table)})"


def _safe_names(factors: list[str]) -> dict[str, str]:
    return {f: f"f{i}" for i, f in enumerate(factors)}


def _full_rank(d: pd.DataFrame, terms: list[str], pairs, names) -> bool:
    """True when the model's design matrix (main terms + these interactions) has full
    column rank, i.e. every coefficient can be estimated from the cells that were run."""
    from patsy import dmatrix

    rhs = " + ".join([*terms, *(f"C({names[a]}):C({names[b]})" for a, b in pairs)])
    X = np.asarray(dmatrix(rhs, d))
    return int(np.linalg.matrix_rank(X)) == X.shape[1]


def anova(
    data: pd.DataFrame, response: str, factors: list[str], interactions: bool = True
) -> AnovaResult:
    """Type-II ANOVA of ``response`` on categorical ``factors`` (+ two-way interactions).

    Only factors with more than one level enter. Interactions whose level combinations
    are not all observed, or that the cells run cannot separate from the terms before them
    (a rank-deficient design, as in the paper's five Table 3 cells), are left out (they
    cannot be estimated), and so are all
    interactions when the residual degrees of freedom would not allow them. Partial eta
    squared = SS_effect / (SS_effect + SS_residual).
    """
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    notes: list[str] = []
    d = data[[response, *factors]].dropna(subset=[response])
    factors = [f for f in factors if d[f].nunique() > 1]
    empty = pd.DataFrame(columns=["term", "df", "sum_sq", "F", "p", "partial_eta2"])
    if not factors:
        return AnovaResult(empty, "", 0.0, ["no factor has more than one level"], fitted=False)
    names = _safe_names(factors)
    d = d.rename(columns={f: names[f] for f in factors}).astype({names[f]: str for f in factors})
    n_cells = d.groupby([names[f] for f in factors]).ngroups
    terms = [f"C({names[f]})" for f in factors]
    main_df = sum(d[names[f]].nunique() - 1 for f in factors)
    pairs: list[tuple[str, str]] = []
    if interactions:
        for a, b in itertools.combinations(factors, 2):
            combos = d.groupby([names[a], names[b]]).ngroups
            if combos != d[names[a]].nunique() * d[names[b]].nunique():
                notes.append(f"interaction {a} × {b} left out: not every level combination was run")
            elif not _full_rank(d, terms, [*pairs, (a, b)], names):
                notes.append(
                    f"interaction {a} × {b} left out: with the terms before it, the cells that "
                    "were run cannot tell it apart (the design would be rank-deficient)"
                )
            else:
                pairs.append((a, b))
        inter_df = sum((d[names[a]].nunique() - 1) * (d[names[b]].nunique() - 1) for a, b in pairs)
        if len(d) - 1 - main_df - inter_df < 2 and pairs:
            notes.append(
                "two-way interactions left out: too few runs to estimate them and still have "
                "residual degrees of freedom (their variation is pooled into the error term)"
            )
            pairs = []
    if len(d) == n_cells:
        notes.append(
            "one run per cell: the residual is the interaction variation, so the test assumes "
            "the left-out interactions are negligible"
        )
    terms += [f"C({names[a]}):C({names[b]})" for a, b in pairs]
    df_resid = (
        len(d)
        - 1
        - main_df
        - sum((d[names[a]].nunique() - 1) * (d[names[b]].nunique() - 1) for a, b in pairs)
    )
    formula = f"{response} ~ " + " + ".join(terms)
    if df_resid < 1:
        notes.append(f"no residual degrees of freedom ({len(d)} runs); no test possible")
        return AnovaResult(empty, formula, float(df_resid), notes, fitted=False)
    model = ols(formula, data=d).fit()
    table = anova_lm(model, typ=2)
    ss_resid = float(table.loc["Residual", "sum_sq"])
    back = {v: k for k, v in names.items()}

    def label(term: str) -> str:
        parts = [p.strip()[2:-1] for p in term.split(":")]
        return " × ".join(back[p] for p in parts)

    out = []
    for term, row in table.drop(index="Residual").iterrows():
        ss = float(row["sum_sq"])
        denom = ss + ss_resid
        out.append(
            {
                "term": label(term),
                "df": float(row["df"]),
                "sum_sq": ss,
                "F": float(row["F"]),
                "p": float(row["PR(>F)"]),
                "partial_eta2": ss / denom if denom > 0 else math.nan,
            }
        )
    return AnovaResult(pd.DataFrame(out), formula, float(model.df_resid), notes)
