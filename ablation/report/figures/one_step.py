"""A task that logs its metric at one step only: a dot per run, never empty curve axes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ablation.report.figures._base import MIN_SEEDS_FOR_BAND, clipped_interval, grid, save, txt
from ablation.report.figures.encoding import Encoding, legend
from ablation.report.figures.metric import Metric


def one_step(
    h: pd.DataFrame, enc: Encoding, panels: list, m: Metric, path: Path, step_label: str | None
) -> Path:
    """Per panel: one column per cell (in the report's colours), its runs as dots, the mean
    as a bar-free marker, and a clipped 95% t-interval with >= 3 seeds."""
    fig, axes = grid(len(panels), width=max(3.6, 0.9 * len(enc.palette) + 1.5), height=3.4)
    order = list(enc.palette)
    banded, seeds = False, 0
    for ax, panel in zip(axes, panels, strict=True):
        sub = h if panel is None else h[h[enc.facet] == panel]
        for _, g in sub.groupby("cell", sort=False):
            label = enc.label(g.iloc[0])
            colour, x = enc.palette[label], order.index(label)
            last = g.sort_values("step").groupby("run_id")["value"].last().to_numpy(float)
            seeds = max(seeds, last.size)
            jitter = np.linspace(-0.12, 0.12, last.size) if last.size > 1 else np.zeros(1)
            if last.size > 1:
                ax.scatter(x + jitter, last, s=14, color=colour, alpha=0.55, lw=0)
            mean, lo, hi = clipped_interval(last, *m.range)
            ax.plot([x], [mean], marker=enc.marker(label), color=colour, ms=8, ls="", gid="mean")
            if not math.isnan(lo):
                banded = True
                ax.errorbar(
                    [x], [mean], yerr=[[mean - lo], [hi - mean]], color=colour, capsize=4, lw=1.3
                )
        if panel is not None:
            ax.set_title(txt(f"{enc.facet} = {panel}", 40))
        ax.set_xticks(range(len(order)), [txt(lb, 14) for lb in order])
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.margins(y=0.15)
    low, high = axes[0].get_ylim()  # never far past the metric's range (100% for accuracies)
    span = high - low
    axes[0].set_ylim(max(low, m.range[0] - 0.02 * span), min(high, m.range[1] + 0.02 * span))
    steps = sorted(h["step"].unique())
    where = f"step {steps[0]}" if len(steps) == 1 else "its one logged step"
    if step_label and len(steps) == 1:  # the task's own step, named as the curves name it
        where = f"{step_label.split(' (')[0]} {steps[0]}"
    for ax in axes[:: min(len(axes), 3)]:
        ax.set_ylabel(txt(f"{m.label} at {where}", 30))
    for ax in axes[-min(len(axes), 3) :]:
        ax.set_xlabel(txt(enc.title or "cell", 30))
    legend(fig, enc)
    if seeds <= 1:
        how = "one run per cell, no interval"
    elif banded:
        rng = f" clipped to {m.range_text}" if m.range_text else ""
        how = (
            f"dots = runs, marker = mean, bar = 95% t-interval{rng} (>= {MIN_SEEDS_FOR_BAND} seeds)"
        )
    else:
        how = f"dots = runs, marker = mean; no interval below {MIN_SEEDS_FOR_BAND} seeds"
    what = m.label if m.percent else m.key
    title = f"The task logged {what} at one step per run, so a dot per run, not a curve: {how}"
    fig.suptitle(txt(title, 95))
    return save(fig, path)
