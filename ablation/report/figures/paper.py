"""The paper's numbers against ours, one row per paper row that ran."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ablation.report.compare import display_names
from ablation.report.figures._base import MIN_SEEDS_FOR_BAND, categorical, save, styled, txt


@styled
def paper_vs_ours(comp: pd.DataFrame, path: Path) -> Path:
    """Paper's test accuracy (x) against ours (mean; clipped 95% t-interval with >= 3 seeds).

    Rows without a finished run of ours are not drawn; they are named under the axes.
    """
    ours = categorical(1)[0]
    comp = comp.assign(label=display_names(comp)) if "cell_key" in comp else comp
    ran = comp[comp["ours_test"].notna()].reset_index(drop=True)
    absent = [str(lb) for lb in comp.loc[comp["ours_test"].isna(), "label"]]
    fig = Figure(figsize=(8, 0.55 * len(ran) + 1.9), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(ran))[::-1]
    ax.scatter(ran["paper_test"], y, marker="x", s=70, color="black", label="paper", zorder=3)
    lo = ran["ours_test_lo"].clip(0, 100).to_numpy(float)
    hi = ran["ours_test_hi"].clip(0, 100).to_numpy(float)
    band = ~np.isnan(lo) & ~np.isnan(hi) & (ran["n"].to_numpy() >= MIN_SEEDS_FOR_BAND)
    mean = "ours (mean over seeds)" if band.all() else "ours (mean over seeds; no interval "
    mean += "" if band.all() else f"with fewer than {MIN_SEEDS_FOR_BAND} seeds)"
    calib = ran["calibrated"].to_numpy(bool) if "calibrated" in ran else np.zeros(len(ran), bool)
    ax.scatter(
        ran["ours_test"][~calib], y[~calib], marker="o", s=30, color=ours, label=txt(mean, 40)
    )
    if calib.any():  # a row a setting was read off: its match is expected, drawn hollow
        ax.scatter(
            ran["ours_test"][calib],
            y[calib],
            marker="o",
            s=40,
            facecolors="white",
            edgecolors=ours,
            linewidths=1.5,
            label="ours, calibration row",
            zorder=3,
        )
    if band.any():
        ax.hlines(y[band], lo[band], hi[band], color=ours, lw=1.6, label="ours: 95% t-interval")
    names = [
        txt(lb, 30) + ("\n(calibration row)" if c else "")
        for lb, c in zip(ran["label"], calib, strict=True)
    ]
    ax.set_yticks(y, names)
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("Paper vs. reproduction: test accuracy")
    ax.margins(y=0.2)
    fig.legend(loc="outside right upper")
    if absent:  # named under the axes, never drawn over a marker
        note = "Not run in this study: " + "; ".join(absent)
        fig.supxlabel(txt(note, 100), fontsize=7, color="0.4", ha="left", x=0.01)
    return save(fig, path)
