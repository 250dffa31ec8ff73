"""The interaction plot: each cell's mean over seeds, never pooled over another factor.

x = one factor, one line (colour and marker) per level of a second factor, one panel per
level combination of the rest, so a reversal (init x depth) or a crossover (L2 helps random
init, hurts Kaiming) shows as lines that cross. Each cell: mean over its seeds, a 95%
t-interval clipped to the metric's range with >= 3 seeds, its seeds as small dots. The y axis
is zoomed to the cell means; a seed or an interval's end outside it is drawn at the edge
with its value.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from ablation.report.figures._base import (
    MARKERS,
    MIN_SEEDS_FOR_BAND,
    categorical,
    grid,
    save,
    styled,
    txt,
)
from ablation.report.figures.encoding import Encoding, encoding
from ablation.report.figures.layout import Layout, _cells, _panel_title, interaction_layout
from ablation.report.figures.metric import Metric, metric_info


def _limits(cells: pd.DataFrame, m: Metric) -> tuple[float, float]:
    """Zoomed to the cell means, with room for a typical interval and for every seed that is
    not far off (a seed further out than the means' spread is drawn at the edge instead)."""
    means = cells["mean"].to_numpy(float)
    lo, hi = float(np.nanmin(means)), float(np.nanmax(means))
    halves = (cells["hi"] - cells["lo"]).dropna().to_numpy(float) / 2
    spread = [float(np.ptp(v)) / 2 for v in cells["values"] if len(v) > 1]
    typical = float(np.median(halves)) if halves.size else (np.median(spread) if spread else 0)
    floor = 1.0 if m.percent else max(1e-6, 1e-3 * max(abs(lo), abs(hi)))
    pad = max(0.12 * (hi - lo), typical * 1.1, floor)
    reach = (hi - lo) + 2 * pad
    seeds = np.concatenate([np.asarray(v, float) for v in cells["values"]])
    near = seeds[(seeds >= lo - reach) & (seeds <= hi + reach)]
    bottom = min(lo - pad, float(near.min()) - 0.3 * pad)
    top = max(hi + pad, float(near.max()) + 0.3 * pad)
    rlo, rhi = m.range
    span = top - bottom
    return max(bottom, rlo - 0.03 * span), min(top, rhi + 0.03 * span)


@styled
def interaction_plot(
    fin: pd.DataFrame,
    vary: list[str],
    path: Path,
    *,
    metric: str | Metric = "test/acc",
    goal: str | None = None,
    x: str | None = None,
    trace: str | None = None,
    enc: Encoding | None = None,
) -> Path:
    """Final ``metric`` per cell (mean over seeds), x = one factor, a line per level of a
    second one, a panel per setting of the rest; the best cell (by ``goal``) ringed."""
    m = metric_info(metric, goal)
    lay = interaction_layout(fin, vary, metric=m, x=x, trace=trace)
    cells = _cells(fin, lay, m)
    enc = enc if enc is not None else encoding(fin, vary)
    if lay.trace is not None and enc.colour[:1] == (lay.trace,) and enc.hues:
        colours = [enc.hues[t] for t in lay.trace_levels]
    else:
        colours = categorical(len(lay.trace_levels))
    fig, axes = grid(len(lay.panels), width=3.9 if len(lay.x_levels) <= 3 else 4.6, height=3.4)
    bottom, top = _limits(cells, m)
    seeds = int(cells["values"].map(len).max())
    best = cells.loc[m.better(cells["mean"])]
    n_t = len(lay.trace_levels)
    outside = False
    for ax, panel in zip(axes, lay.panels, strict=True):
        here = cells[cells["panel"] == panel]
        for j, t in enumerate(lay.trace_levels):
            dodge = (j - (n_t - 1) / 2) * min(0.1, 0.3 / n_t)
            line = here[here["trace"] == t].set_index("x")
            xs = np.arange(len(lay.x_levels)) + dodge
            ys = [line["mean"].get(v, math.nan) for v in lay.x_levels]
            kw = dict(color=colours[j], marker=MARKERS[j % len(MARKERS)], ms=6, lw=1.8, zorder=3)
            ax.plot(xs, ys, **kw)
            for i, v in enumerate(lay.x_levels):
                if v not in line.index:
                    continue
                c = line.loc[v]
                if not math.isnan(c["lo"]):
                    err = [[c["mean"] - c["lo"]], [c["hi"] - c["mean"]]]
                    ax.errorbar(xs[i], c["mean"], yerr=err, color=colours[j], capsize=3, lw=1.2)
                    for end in (c["lo"], c["hi"]):  # an interval that leaves the zoomed axis
                        if not bottom <= end <= top:
                            outside = True
                            _mark_outside(ax, xs[i], end, bottom, top, colours[j], "to ")
                if seeds > 1:
                    vals = np.asarray(c["values"], float)
                    side = 0.07 if dodge >= 0 else -0.07  # beside the bar, on the outer side
                    jitter = side + (np.linspace(-0.02, 0.02, vals.size) if vals.size > 1 else 0)
                    inside = (vals >= bottom) & (vals <= top)
                    ax.scatter(
                        (xs[i] + jitter + 0 * vals)[inside],
                        vals[inside],
                        s=9,
                        color=colours[j],
                        alpha=0.45,
                        lw=0,
                        zorder=2,
                    )
                    for val in vals[~inside]:
                        outside = True
                        _mark_outside(ax, xs[i], val, bottom, top, colours[j])
        for i, v in enumerate(lay.x_levels):  # an incomplete design: say what is missing
            ran = set(here.loc[here["x"] == v, "trace"])
            missing = [t for t in lay.trace_levels if t not in ran]
            if missing:
                what = "no finished run"
                if len(missing) < n_t:
                    what += ": " + ", ".join(map(str, missing))
                ax.text(
                    i,
                    0.03,
                    txt(what, 18),
                    transform=ax.get_xaxis_transform(),
                    ha="center",
                    va="bottom",
                    fontsize=7.5,
                    color="0.35",
                    style="italic",
                )
        if panel == best["panel"]:
            bx = list(lay.x_levels).index(best["x"])
            bj = list(lay.trace_levels).index(best["trace"])
            bx += (bj - (n_t - 1) / 2) * min(0.1, 0.3 / n_t)
            ax.scatter([bx], [best["mean"]], s=230, fc="none", ec="0.1", lw=1.3, gid="best-cell")
        if lay.facets:
            ax.set_title(txt(_panel_title(lay, panel), 40))
        ax.set_xticks(range(len(lay.x_levels)), [txt(v, 12) for v in lay.x_levels])
        ax.set_xlim(-0.5, len(lay.x_levels) - 0.5)
        ax.set_xlabel(txt(lay.x or "", 30))
        ax.set_ylim(bottom, top)
    for ax in axes[:: min(len(axes), 3)]:
        ax.set_ylabel(txt(f"final {m.label}", 30))
    handles = [
        Line2D([], [], color=c, marker=MARKERS[j % len(MARKERS)], lw=1.8, ms=6)
        for j, c in enumerate(colours)
    ]
    labels = [txt(t, 24) for t in lay.trace_levels] if lay.trace else ["mean over seeds"]
    handles.append(Line2D([], [], ls="", marker="o", ms=12, mfc="none", mec="0.1"))
    labels.append(txt(f"best cell ({m.best_word} mean)", 24))
    if seeds > 1:
        handles.append(Line2D([], [], ls="", marker="o", ms=3, color="0.45", alpha=0.6))
        labels.append("one seed")
    if outside:
        handles.append(Line2D([], [], ls="", marker="v", ms=5, color="0.3"))
        labels.append(txt("seed or interval end outside the axis (its value beside it)", 24))
    fig.legend(handles, labels, loc="outside right center", title=txt(lay.trace or "", 24) or None)
    fig.suptitle(txt(_title(lay, m, seeds, cells), 95))
    return save(fig, path)


def _mark_outside(ax, x: float, value: float, bottom: float, top: float, colour, prefix="") -> None:
    """A value past the zoomed y axis (a seed; an interval's end with ``prefix="to "``): an
    arrowhead on the edge it leaves by, and the value beside it."""
    edge = bottom if value < bottom else top
    marker = "v" if value < bottom else "^"
    ax.plot(x, edge, marker=marker, color=colour, ms=6, clip_on=False, zorder=4)
    ax.annotate(
        f"{prefix}{value:.3g}",
        (x, edge),
        xytext=(5, -10 if value > top else 3),  # inside the axes, clear of title and ticks
        textcoords="offset points",
        fontsize=7,
        color="0.25",
    )


def _title(lay: Layout, m: Metric, seeds: int, cells: pd.DataFrame) -> str:
    what = f"Final {m.label}"
    if lay.x and lay.trace:
        what += f" by {lay.x} (x) and {lay.trace} (lines)"
    elif lay.x:
        what += f" by {lay.x}"
    if lay.facets:
        what += f", a panel per {', '.join(lay.facets)}"
    if seeds <= 1:
        return what + ": one seed per cell, so each marker is one run and there are no intervals"
    rng = f" clipped to {m.range_text}" if m.range_text else ""
    banded = cells["lo"].notna().any()
    band = f"95% t-interval{rng} for cells with >= {MIN_SEEDS_FOR_BAND} seeds"
    band = band if banded else f"no interval (fewer than {MIN_SEEDS_FOR_BAND} seeds per cell)"
    return what + f": cell mean over seeds (marker), {band}"


def interaction_caption(
    fin: pd.DataFrame,
    vary: list[str],
    *,
    metric: str | Metric = "test/acc",
    goal: str | None = None,
    x: str | None = None,
    trace: str | None = None,
) -> str:
    """The report's caption for ``interaction_plot`` drawn with the same arguments."""
    m = metric_info(metric, goal)
    lay = interaction_layout(fin, vary, metric=m, x=x, trace=trace)
    cells = _cells(fin, lay, m)
    seeds = int(cells["values"].map(len).max()) if len(cells) else 0
    text = f"Final {m.label} of each cell, never pooled over another factor"
    if lay.x:
        text += f": x = {lay.x}"
    if lay.trace:
        text += f", one line per level of {lay.trace} (lines that cross = an interaction)"
    if lay.facets:
        text += f", one panel per {', '.join(lay.facets)}"
    if seeds <= 1:
        text += ". One seed per cell: each marker is a single run, so no interval is drawn"
    else:
        rng = f" clipped to {m.range_text}" if m.range_text else ""
        text += (
            f". Marker = mean over seeds; bar = 95% t-interval{rng}, drawn only for cells with "
            f"at least {MIN_SEEDS_FOR_BAND} seeds; small dots = single seeds"
        )
    n_cells = len(lay.panels) * len(lay.x_levels) * len(lay.trace_levels)
    if len(cells) < n_cells:
        gone = n_cells - len(cells)
        text += f"; {gone} cell(s) of this layout have no finished run (the line breaks there)"
    text += (
        f". Ringed: the best cell ({m.best_word} mean). The y axis is zoomed to the means: a seed"
        " or an interval's end beyond it is an arrowhead on the edge, with its value"
    )
    return text


@styled
def accuracy_by_factor(
    fin: pd.DataFrame, vary: list[str], path: Path, *, metric: str = "test/acc", **kwargs
) -> Path:
    """The former pooled figure's name: now the interaction plot (nothing is pooled)."""
    return interaction_plot(fin, vary, path, metric=metric, **kwargs)
