"""Learning curves: the metric against epochs (or the task's steps), mean over seeds per cell.

No curve hides another: every curve has its own marker, placed at staggered steps, so two
identical curves show as one line carrying both markers, and curves that coincide are named
under the figure. Each panel is zoomed to where the curves differ (the second half of
training and the paper's lines); a small panel below it shows the full range with the zoomed
window shaded. The paper's lines are dotted in the cell's colour and labelled where they are
drawn (labels pushed apart when two lines lie close). A task that logs one step per run gets
a dot per run instead (``one_step``), never empty axes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ablation.report.figures._base import (
    MIN_SEEDS_FOR_BAND,
    clipped_interval,
    save,
    spread_labels,
    styled,
    txt,
)
from ablation.report.figures.encoding import Encoding, legend
from ablation.report.figures.metric import Metric, metric_info
from ablation.report.figures.one_step import one_step

COINCIDE = {True: 0.05, False: 1e-4}  # max |difference| (points / relative) to call it equal


def logged_steps(hist: pd.DataFrame, key: str = "test/acc") -> int:
    """The most distinct steps any run logged for ``key`` (1: a dot plot, not curves)."""
    h = hist[hist["key"] == key]
    return int(h.groupby("run_id")["step"].nunique().max()) if len(h) else 0


def _mean_curves(h: pd.DataFrame, m: Metric | None = None) -> pd.DataFrame:
    """Per step: mean and clipped interval over the runs of one cell."""
    bounds = m.range if m is not None else (0.0, 100.0)
    rows = [(step, *clipped_interval(g["value"], *bounds)) for step, g in h.groupby("step")]
    return pd.DataFrame(rows, columns=["step", "mean", "lo", "hi"])


def _window(curves: list[pd.DataFrame], refs: list[float], m: Metric) -> tuple[float, float]:
    """Where the curves differ: the second half of each curve and the paper's lines."""
    late = [c.loc[c["step"] >= c["step"].max() / 2, "mean"] for c in curves]
    values = np.concatenate([np.asarray(v, float) for v in late] + [np.asarray(refs, float)])
    values = values[np.isfinite(values)]
    if not values.size:
        return m.range
    lo, hi = float(values.min()), float(values.max())
    floor = 0.5 if m.percent else max(1e-9, 1e-3 * max(abs(lo), abs(hi)))
    pad = max(0.1 * (hi - lo), floor)
    span = hi - lo + 2 * pad
    rlo, rhi = m.range
    return max(lo - pad, rlo - 0.02 * span), min(hi + pad, rhi + 0.02 * span)


def _full(curves: list[pd.DataFrame], m: Metric) -> tuple[float, float]:
    if m.percent:
        return (0.0, 100.5)
    values = np.concatenate([c["mean"].to_numpy(float) for c in curves] or [np.zeros(1)])
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = 0.05 * (hi - lo) or 1.0
    return lo - pad, hi + pad


def _coinciding(curves: dict[str, pd.DataFrame], tol: float) -> list[tuple[str, str, float]]:
    """Pairs of curves (label, label, max |difference|) equal within ``tol`` at every step."""
    out, labels = [], list(curves)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            both = curves[a].merge(curves[b], on="step")
            if len(both) and len(both) == len(curves[a]) == len(curves[b]):
                diff = float(np.nanmax(np.abs(both["mean_x"] - both["mean_y"])))
                if diff <= tol:
                    out.append((a, b, diff))
    return out


def _label_references(ax, refs: list[tuple[str, float, tuple]], window) -> None:
    """Dotted paper lines in the cell's colour, each labelled at the left where it is drawn;
    labels of lines closer than a text line are pushed apart and joined to their line."""
    lo, hi = window
    shown = [(lb, v, c) for lb, v, c in refs if lo <= v <= hi]
    for _, value, colour in refs:
        ax.axhline(value, color=colour, ls=":", lw=1.5, zorder=1.5)
    if not shown:
        return
    frac = [(v - lo) / (hi - lo) for _, v, _ in shown]
    placed = spread_labels(frac, 0.075, 0.04, 0.96)
    for (label, value, colour), want, at in zip(shown, frac, placed, strict=True):
        ax.annotate(
            txt(f"paper {value:.1f}: {label}", 40),
            xy=(0.0, want),
            xytext=(0.015, at + 0.006),
            xycoords="axes fraction",
            textcoords="axes fraction",
            va="bottom",
            fontsize=7,
            color="0.15",
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec=colour, lw=0.8, alpha=0.85),
            arrowprops=dict(arrowstyle="-", color=colour, lw=0.8)
            if abs(at - want) > 0.01
            else None,
            zorder=5,
        )


def _panels(n: int, zoom: bool):
    """Main axes (shared x and y) and, when zoomed, a small full-range axes under each."""
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    ratios = [3.0, 1.0] * rows if zoom else [1.0] * rows
    fig = Figure(
        figsize=(4.6 * cols + 2.2, (4.6 if zoom else 3.6) * rows + 0.9), layout="constrained"
    )
    gs = fig.add_gridspec(len(ratios), cols, height_ratios=ratios)
    step = 2 if zoom else 1
    main, small = [], []
    for i in range(n):
        r, c = divmod(i, cols)
        share = main[0] if main else None
        main.append(fig.add_subplot(gs[r * step, c], sharex=share, sharey=share))
    for i in range(n if zoom else 0):
        r, c = divmod(i, cols)
        small.append(
            fig.add_subplot(gs[r * step + 1, c], sharex=main[0], sharey=small[0] if small else None)
        )
    return fig, main, small


@styled
def learning_curves(
    hist: pd.DataFrame,
    runs: pd.DataFrame,
    enc: Encoding,
    path: Path,
    *,
    key: str = "test/acc",
    updates_per_epoch: dict[str, int | None] | None = None,
    references: list[tuple] = (),
    step_label: str | None = None,
    metric: str | Metric | None = None,
    goal: str | None = None,
    zoom: bool = True,
) -> Path:
    """``key`` (accuracies in %, other metrics as logged) vs. epochs per cell, mean over seeds.

    ``step_label`` names the x axis when the steps are not epochs (a user's task logs
    its own steps); then no update-step axis is drawn. ``runs`` maps run_id to cell and
    factors; ``updates_per_epoch`` (cell -> updates) puts update steps on a second axis when
    every cell has the same number; ``references`` are ``(cell, value)`` pairs (the paper's
    numbers) drawn as labelled dotted lines in the cell's colour, or ``(cell, value, note)``
    with a note for the label ("calibration row"). ``zoom`` False: one full-
    range panel per facet level, as before.
    """
    m = metric_info(metric or key, goal)
    cols = ["run_id", "cell", *enc.colour, *([enc.facet] if enc.facet else [])]
    h = hist[hist["key"] == key].merge(runs[cols], on="run_id")
    h = h.assign(value=m.scaled(h["value"]))
    panels = list(enc.facet_levels) or [None]
    if logged_steps(hist, key) <= 1:
        return one_step(h, enc, panels, m, path, step_label)
    by_panel = {
        p: {c: g for c, g in (h if p is None else h[h[enc.facet] == p]).groupby("cell", sort=False)}
        for p in panels
    }
    stats = {c: _mean_curves(g, m) for groups in by_panel.values() for c, g in groups.items()}
    label_of = {c: enc.label(g.iloc[0]) for groups in by_panel.values() for c, g in groups.items()}
    ref_of = [(r[0], r[1], r[2] if len(r) > 2 else "") for r in references if r[0] in stats]
    window = _window(list(stats.values()), [v for _, v, _ in ref_of], m)
    full = _full(list(stats.values()), m)
    zoom = zoom and (window[1] - window[0]) < 0.6 * (full[1] - full[0])
    fig, axes, small = _panels(len(panels), zoom)
    banded, notes = False, []
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=True)):
        cells = list(by_panel[panel])
        for k, cell in enumerate(cells):
            label, s = label_of[cell], stats[cell]
            colour = enc.palette[label]
            every = max(1, len(s) // 6)
            marks = slice((k * every) // max(1, len(cells)), None, every)
            ax.plot(
                s["step"],
                s["mean"],
                color=colour,
                lw=1.6,
                label=label,
                marker=enc.marker(label),
                ms=5.5,
                mfc="none",
                mew=1.2,
                markevery=marks,
            )
            ok = s["lo"].notna()
            if ok.any():
                banded = True
                ax.fill_between(
                    s.loc[ok, "step"],
                    s.loc[ok, "lo"],
                    s.loc[ok, "hi"],
                    color=colour,
                    alpha=0.15,
                    lw=0,
                )
            if zoom:
                small[i].plot(s["step"], s["mean"], color=colour, lw=1.0)
        refs = [
            (label_of[c] + (f" ({note})" if note else ""), v, enc.palette[label_of[c]])
            for c, v, note in ref_of
            if c in cells
        ]
        _label_references(ax, refs, window if zoom else full)
        curves = {label_of[c]: stats[c] for c in cells}
        where = f" ({enc.facet} = {panel})" if panel is not None else ""
        for a, b, d in _coinciding(curves, COINCIDE[m.percent]):
            unit = " points" if m.percent else ""
            notes.append(f"{a} and {b}{where} coincide (largest difference {d:.2g}{unit})")
        if panel is not None:
            ax.set_title(txt(f"{enc.facet} = {panel}", 40))
    ax0 = axes[0]
    ax0.set_ylim(*(window if zoom else full))
    if zoom:
        small[0].set_ylim(*full)
        for ax in small:
            ax.axhspan(*window, color="0.5", alpha=0.18, lw=0)
            ax.tick_params(labelsize=7)
        small[0].set_ylabel("full range", fontsize=8)
    xlabel = _x_axis(axes + small, stats, updates_per_epoch, step_label, zoom)
    bottom = small if zoom else axes
    ncols = min(len(axes), 3)
    for j, ax in enumerate(bottom):
        ax.set_xlabel(xlabel if j + ncols >= len(bottom) else "")
        if j + ncols < len(bottom):
            ax.tick_params(labelbottom=False)
    if zoom:
        for ax in axes:
            ax.tick_params(labelbottom=False)
    for ax in axes[::ncols]:
        ax.set_ylabel(m.label + (" (zoomed)" if zoom else ""))
    extra = []
    if ref_of:
        extra.append((Line2D([], [], color="0.3", ls=":", lw=1.5), "paper's value for the cell"))
    legend(fig, enc, extra, hollow=True)
    rng = f" clipped to {m.range_text}" if m.range_text else ""
    band = (
        f"band = 95% t-interval{rng}, cells with >= {MIN_SEEDS_FOR_BAND} seeds"
        if banded
        else f"no band: fewer than {MIN_SEEDS_FOR_BAND} seeds per cell"
    )
    what = m.label.replace(" (%)", "").capitalize() if m.percent else m.key
    title = f"{what} during training: mean over seeds; {band}"
    if zoom:
        title += "; zoomed to where the curves differ, full range below"
    fig.suptitle(txt(title, 100))
    if notes:
        fig.supxlabel(
            txt("Curves drawn on top of each other: " + "; ".join(notes) + ".", 130),
            fontsize=7.5,
            color="0.25",
            ha="left",
            x=0.01,
        )
    return save(fig, path)


def _x_axis(axes, stats, updates_per_epoch, step_label, zoom) -> str:
    """The shared x scale (symlog when epochs differ > 5x) and its label; update steps on
    a second axis at the top when every cell has the same number per epoch."""
    ends = [float(s["step"].max()) for s in stats.values() if s["step"].max() > 0]
    log = bool(ends) and max(ends) > 5 * min(ends)  # e.g. 300 full-batch epochs beside 20
    if log:
        axes[0].set_xscale("symlog", linthresh=1, linscale=0.4)
        if min(float(s["step"].min()) for s in stats.values()) >= 0:
            axes[0].set_xlim(left=-0.1)  # no negative epochs from the margins
    xlabel = "epochs (passes over the training set" + ("; log scale above 1)" if log else ")")
    per = {u for u in (updates_per_epoch or {}).values()}
    if step_label:
        return step_label + (" (log scale above 1)" if log else "")
    if per == {1}:
        return "epochs (= full-batch update steps)" + (" (log scale above 1)" if log else "")
    if len(per) == 1 and None not in per:
        u = per.pop()
        n = len(axes) // 2 if zoom else len(axes)
        for ax in axes[: min(n, 3)]:
            top = ax.secondary_xaxis("top", functions=(lambda e, u=u: e * u, lambda s, u=u: s / u))
            top.set_xlabel(f"update steps ({u} per epoch)")
    return xlabel
