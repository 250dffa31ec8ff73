"""Per-class and confusion heatmaps, on colour-blind-safe sequential maps (no red-green)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ablation.report.figures._base import SEQUENTIAL, save, styled, txt, varying_words


@styled
def per_class_heatmap(table: pd.DataFrame, path: Path, what: str = "recall") -> Path:
    """Cells x digits heatmap of per-class recall (or precision) in percent (cividis: dark =
    low, light = high; readable with any colour vision and in greyscale)."""
    fig = Figure(figsize=(9, 0.45 * len(table) + 1.8), layout="constrained")
    ax = fig.subplots()
    shown = table.copy()
    shown.index = [txt(i, 40) for i in varying_words(list(shown.index))]
    sns.heatmap(
        shown,
        ax=ax,
        annot=True,
        fmt=".1f",
        cmap=SEQUENTIAL,
        vmin=max(0.0, np.nanmin(shown.to_numpy(float)) if shown.size else 0.0),
        vmax=100,
        cbar_kws={"label": f"{what} (%)"},
        annot_kws={"fontsize": 7},
    )
    ax.set_xlabel("digit")
    ax.set_ylabel("cell")
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(f"Per-digit test {what} (%), mean over seeds")
    return save(fig, path)


@styled
def confusion(matrix: np.ndarray, title: str, path: Path) -> Path:
    """Confusion counts: errors coloured by count on one blue ramp (white = none, dark = many;
    a single hue reads the same with any colour vision); the diagonal (correct) grey."""
    fig = Figure(figsize=(6.8, 5.8), layout="constrained")
    ax = fig.subplots()
    counts = np.asarray(matrix).astype(int)
    diag = np.eye(len(counts), dtype=bool)
    text = np.where(counts > 0, counts.astype(str), "")
    sns.heatmap(
        np.where(diag, np.nan, counts),
        ax=ax,
        mask=diag,
        annot=np.where(diag, "", text),
        fmt="",
        cmap="Blues",
        vmin=0,
        vmax=max(1, int(counts[~diag].max(initial=0))),
        linewidths=0.5,
        linecolor="white",
        cbar_kws={"label": "misclassified test digits (count)"},
        annot_kws={"fontsize": 7},
    )
    for i, n in enumerate(np.diag(counts)):
        ax.add_patch(Rectangle((i, i), 1, 1, facecolor="0.88", edgecolor="white", lw=0.5))
        ax.text(i + 0.5, i + 0.5, str(n), ha="center", va="center", fontsize=7, color="0.25")
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(txt(title, 70))
    return save(fig, path)
