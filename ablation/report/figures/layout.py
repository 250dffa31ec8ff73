"""Where each cell of an interaction plot goes: x factor, line factor, panels; and the cells'
means over seeds with their clipped intervals (no pooling over any factor)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ablation.report.cells import sorted_levels
from ablation.report.figures._base import clipped_interval
from ablation.report.figures.metric import Metric, metric_info


@dataclass(frozen=True)
class Layout:
    """Which factor is on x, which one picks the line, and which ones split the panels."""

    x: str | None
    trace: str | None
    facets: tuple[str, ...]
    x_levels: tuple
    trace_levels: tuple
    panels: tuple[tuple, ...]  # level combinations of ``facets`` that have runs


def _strength(means: pd.Series, a: str, b: str, others: list[str]) -> float:
    """Mean squared non-additivity of ``a`` x ``b`` within each setting of the others."""
    total, n = 0.0, 0
    groups = means.groupby(level=others) if others else [((), means)]
    for _, g in groups:
        table = g.groupby(level=[a, b]).mean().unstack(b)
        table = table.dropna(axis=0, how="any")
        if table.shape[0] < 2 or table.shape[1] < 2:
            continue
        resid = table.sub(table.mean(axis=1), axis=0).sub(table.mean(axis=0), axis=1)
        resid += table.to_numpy().mean()
        total += float((resid.to_numpy() ** 2).sum())
        n += resid.size
    return total / n if n else 0.0


def interaction_layout(
    fin: pd.DataFrame,
    vary: list[str],
    *,
    metric: str | Metric = "test/acc",
    x: str | None = None,
    trace: str | None = None,
) -> Layout:
    """By default the pair of factors whose cell means interact most (ties: the first pair in
    ``vary``'s order); of the two, x = the one with more levels (ties: the later one)."""
    m = metric_info(metric)
    moving = [f for f in vary if f in fin and fin[f].nunique() > 1]
    if x is None and trace is None and len(moving) >= 2:
        col = m.column(fin)
        means = fin.assign(_v=m.scaled(fin[col])).groupby(moving)["_v"].mean()
        pairs = list(itertools.combinations(moving, 2))
        scores = [_strength(means, a, b, [f for f in moving if f not in (a, b)]) for a, b in pairs]
        a, b = pairs[int(np.argmax(np.round(scores, 9)))]
        x, trace = (a, b) if fin[a].nunique() > fin[b].nunique() else (b, a)
    elif x is None:
        rest = [f for f in moving if f != trace]
        x = max(reversed(rest), key=lambda f: fin[f].nunique()) if rest else None
    if trace is None:
        rest = [f for f in moving if f != x]
        trace = rest[0] if rest else None
    facets = tuple(f for f in moving if f not in (x, trace))
    levels = lambda f: tuple(sorted_levels(f, fin[f].unique())) if f else ("",)  # noqa: E731
    seen = set(map(tuple, fin[list(facets)].to_numpy())) if facets else {()}
    panels = tuple(c for c in itertools.product(*map(levels, facets)) if c in seen)
    return Layout(x, trace, facets, levels(x), levels(trace), panels)


def _panel_title(layout: Layout, panel: tuple) -> str:
    return ", ".join(f"{f} = {v}" for f, v in zip(layout.facets, panel, strict=True))


def _cells(fin: pd.DataFrame, layout: Layout, m: Metric) -> pd.DataFrame:
    """One row per drawn cell: panel, trace level, x level, its seeds' values and interval."""
    col = m.column(fin)
    rows = []
    for panel, t, xv in itertools.product(layout.panels, layout.trace_levels, layout.x_levels):
        sel = np.ones(len(fin), dtype=bool)
        for f, v in [*zip(layout.facets, panel, strict=True), (layout.trace, t), (layout.x, xv)]:
            if f is not None:
                sel &= (fin[f] == v).to_numpy()
        values = m.scaled(fin.loc[sel, col])
        values = values[np.isfinite(values)]
        if values.size:
            mean, lo, hi = clipped_interval(values, *m.range)
            rows.append((panel, t, xv, values, mean, lo, hi))
    return pd.DataFrame(rows, columns=["panel", "trace", "x", "values", "mean", "lo", "hi"])
