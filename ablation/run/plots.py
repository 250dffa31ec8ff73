"""The two figures every run carries as artifacts: its confusion matrix and learning curves.

matplotlib is imported inside the functions, so importing the app stays fast, and only its
object API (``Figure``, saved to PNG through the Agg canvas): pyplot's global figure manager
and backend machinery cost ~0.3 s of CPU to import in every process that trains, for nothing
here. Both figures have fixed margins instead of ``tight_layout``: it lays out every text of
the figure once more before the drawing (the confusion matrix's 100 counts), ~40% of a
figure's time, and a sweep draws two figures a cell.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: ``split/name`` -> [(step, value), ...] in step order: the curves of one run
Curves = dict[str, list[tuple[int, float]]]


def _figure(figsize: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def confusion_png(confusion: np.ndarray, path: Path, title: str) -> None:
    fig = _figure((5.5, 4.8))
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.93)
    image = ax.imshow(confusion, cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion):
        color = "white" if count > confusion.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set(
        xlabel="predicted digit",
        ylabel="true digit",
        xticks=range(len(confusion)),
        yticks=range(len(confusion)),
    )
    ax.set_title(title, fontsize=8, wrap=True)
    fig.colorbar(image, ax=ax, label="test images")
    fig.savefig(path, dpi=100)


def learning_curve_png(curves: Curves, path: Path, title: str) -> None:
    """Loss and accuracy (%) against the step, one line per split that was evaluated."""
    fig = _figure((9, 3.6))
    ax_loss, ax_acc = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.8, wspace=0.22)
    for split in ("train", "val", "test"):
        for ax, name in ((ax_loss, "loss"), (ax_acc, "acc")):
            points = curves.get(f"{split}/{name}")
            if points:
                scale = 100 if name == "acc" else 1
                steps, values = zip(*points, strict=True)
                ax.plot(steps, [v * scale for v in values], label=split)
    ax_loss.set(xlabel="step", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        if ax.lines:  # a task may log accuracy only
            ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9, wrap=True)
    fig.savefig(path, dpi=100)
