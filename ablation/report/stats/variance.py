"""How much of the spread over seeds comes from the training subset and how much from the init.

When a study crosses ``data_seed`` (which training subset) with ``seed`` (the weight init
and the rest), the runs of one cell form a two-way crossed random-effects design:

    y = mu + data_effect[data_seed] + init_effect[seed] + residual

The components are method-of-moments (ANOVA, expected mean squares) estimates from the
sums of squares of an additive OLS fit (statsmodels), pooled over cells when ``by`` names
the cell factors; negative estimates are set to 0. With one run per (data_seed, seed)
pair the residual is their interaction (training is deterministic given both seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from statsmodels.formula.api import ols
from statsmodels.stats.anova import anova_lm

VARIANCE_SENTENCE = (
    "Variance shares: random-effects (ANOVA method-of-moments) estimates of the variance of "
    "final test accuracy due to the training subset (data_seed), the initialisation (seed) "
    "and what neither explains alone (their interaction), pooled over cells."
)


@dataclass(frozen=True)
class VarianceShares:
    """Variance components (points², per run) and their shares of the total."""

    data: float
    init: float
    residual: float
    n_runs: int
    n_cells: int

    @property
    def total(self) -> float:
        return self.data + self.init + self.residual

    def share(self, part: str) -> float:
        return getattr(self, part) / self.total if self.total > 0 else float("nan")

    def sentence(self) -> str:
        return (
            f"Of the spread of test accuracy over seeds, {100 * self.share('data'):.0f}% comes "
            f"from the training subset, {100 * self.share('init'):.0f}% from the initialisation "
            f"and {100 * self.share('residual'):.0f}% from their interaction "
            f"({self.n_runs} runs in {self.n_cells} cell(s))."
        )


def _sums_of_squares(g: pd.DataFrame) -> tuple[dict, int]:
    """Sums of squares and df of the additive fit within one cell; rows per data level."""
    model = ols("y ~ C(data_seed) + C(seed)", data=g).fit()
    table = anova_lm(model, typ=2)
    terms = {"data": "C(data_seed)", "init": "C(seed)", "residual": "Residual"}
    out = {k: (float(table.loc[t, "sum_sq"]), float(table.loc[t, "df"])) for k, t in terms.items()}
    return out, len(g)


def variance_components(
    runs: pd.DataFrame,
    response: str = "test_acc",
    data: str = "data_seed",
    init: str = "seed",
    by: list[str] | None = None,
) -> VarianceShares:
    """Data-subset vs. init variance of ``response`` from runs with both seed columns.

    Each cell (one combination of ``by``) must cross at least 2 data seeds with at least 2
    init seeds and leave residual degrees of freedom; cells that do not are skipped. Raises
    ``ValueError`` (a one-line message) when no cell qualifies.
    """
    d = runs[[response, data, init, *(by or [])]].dropna(subset=[response])
    d = d.rename(columns={response: "y", data: "data_seed", init: "seed"})
    d = d.astype({"data_seed": str, "seed": str})
    groups = d.groupby(by, sort=True) if by else [((), d)]
    pooled = {k: [0.0, 0.0] for k in ("data", "init", "residual")}
    k_data = k_init = 0.0  # runs per data level / per init level, pooled
    n_runs = n_cells = 0
    for _, g in groups:
        n_d, n_i = g["data_seed"].nunique(), g["seed"].nunique()
        if n_d < 2 or n_i < 2 or len(g) <= n_d + n_i - 1:
            continue
        ss, n = _sums_of_squares(g)
        for k, (s, df) in ss.items():
            pooled[k][0] += s
            pooled[k][1] += df
        k_data += n / n_d * (n_d - 1)
        k_init += n / n_i * (n_i - 1)
        n_runs += n
        n_cells += 1
    if n_cells == 0:
        raise ValueError(
            f"no cell crosses at least 2 values of {data!r} with 2 of {init!r}; "
            f"run the study with both seeds varied (e.g. {data}=0,1,2 {init}=0,1,2)"
        )
    ms = {k: s / df for k, (s, df) in pooled.items()}
    # E[MS_data] = s2_res + (runs per data level) * s2_data; the multiplier is df-weighted
    per_data = k_data / pooled["data"][1]
    per_init = k_init / pooled["init"][1]
    s2_data = max((ms["data"] - ms["residual"]) / per_data, 0.0)
    s2_init = max((ms["init"] - ms["residual"]) / per_init, 0.0)
    return VarianceShares(s2_data, s2_init, ms["residual"], n_runs, n_cells)
