"""Figures from one run's saved predictions: one-vs-rest ROC/PR and the error gallery."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ablation.report.figures._base import categorical, save, styled, txt


@styled
def roc_pr(pred, title: str, roc_path: Path, pr_path: Path) -> dict[str, list[float]]:
    """One-vs-rest ROC (log false-positive axis, AUC) and PR (full + zoom near 1, AP) per digit."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    classes = range(pred.proba.shape[1])
    colours = categorical(len(classes))
    styles = ["-" if k < 5 else "--" for k in classes]  # 10 hues: a second cue for 5-9
    out = {"auc": [], "ap": []}
    fig_roc = Figure(figsize=(7.6, 5.4), layout="constrained")
    fig_pr = Figure(figsize=(11.5, 5.0), layout="constrained")
    ax_roc, (ax_pr, zoom) = fig_roc.subplots(), fig_pr.subplots(1, 2)
    floor_fpr, floor_prec = 1.0, 1.0
    for k in classes:
        truth = pred.y_true == k
        if not truth.any() or truth.all():
            out["auc"].append(math.nan)
            out["ap"].append(math.nan)
            continue
        fpr, tpr, _ = roc_curve(truth, pred.proba[:, k])
        prec, rec, _ = precision_recall_curve(truth, pred.proba[:, k])
        a, ap = auc(fpr, tpr), average_precision_score(truth, pred.proba[:, k])
        out["auc"].append(float(a))
        out["ap"].append(float(ap))
        floor_fpr = min(floor_fpr, 0.5 / max(1, int((~truth).sum())))
        floor_prec = min(floor_prec, float(prec[rec >= 0.99].max()))
        ax_roc.step(fpr, tpr, where="post", color=colours[k], lw=1.2, ls=styles[k])
        for ax in (ax_pr, zoom):
            ax.step(rec, prec, where="post", color=colours[k], lw=1.2, ls=styles[k])
        ax_roc.plot([], [], color=colours[k], ls=styles[k], label=f"digit {k} (AUC {a:.4f})")
        ax_pr.plot([], [], color=colours[k], ls=styles[k], label=f"digit {k} (AP {ap:.4f})")
    ax_roc.set_xscale("log")
    ax_roc.set(xlabel="false positive rate (log scale)", ylabel="true positive rate")
    ax_roc.set(xlim=(floor_fpr, 1), ylim=(-0.01, 1.02))
    ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1.005), ylim=(-0.01, 1.02))
    lo = max(0.0, math.floor(100 * floor_prec) / 100 - 0.01)
    zoom.set(xlim=(0.9, 1.002), ylim=(lo, 1.002), xlabel="recall", ylabel="precision")
    zoom.set_title("zoom on recall >= 0.9")
    ax_pr.indicate_inset_zoom(zoom, edgecolor="0.4")
    ax_roc.set_title(txt(f"One-vs-rest ROC: {title}", 70))
    fig_pr.suptitle(txt(f"One-vs-rest precision-recall: {title}", 90))
    ax_pr.set_title("full range")
    for fig, ax in ((fig_roc, ax_roc), (fig_pr, ax_pr)):
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right center")
    save(fig_roc, roc_path)
    save(fig_pr, pr_path)
    return out


@styled
def misclassified_gallery(pred, title: str, path: Path, n: int = 16) -> Path | None:
    """The ``n`` most confident mistakes on the test set, with true and predicted digit.

    One axes holds every image, each placed by its ``extent`` with its label above it: a grid
    of 16 axes cost ~0.6 s more to lay out and draw, in every report."""
    wrong = np.flatnonzero(pred.y_pred != pred.y_true)
    if wrong.size == 0:
        return None
    conf = pred.proba[wrong, pred.y_pred[wrong]]
    pick = wrong[np.argsort(-conf, kind="stable")[:n]]
    side = int(round(math.sqrt(pred.X.shape[1])))
    square = side * side == pred.X.shape[1]
    cols = min(4, len(pick))
    rows = math.ceil(len(pick) / cols)
    # a tile is one image (1 x 1) with room above it for its two-line label
    pitch_x, pitch_y, label = 1.25, 1.25 * 2.1 / 1.9, 0.06
    fig = Figure(figsize=(1.9 * cols, 2.1 * rows + 0.7), layout="constrained")
    ax = fig.subplots()
    ax.axis("off")
    for k, i in enumerate(pick):
        r, c = divmod(k, cols)
        x0, top = c * pitch_x, r * pitch_y + (pitch_y - 1)  # y grows downwards
        if square:
            image = pred.X[i].reshape(side, side)
            extent = (x0, x0 + 1, top + 1, top)
            ax.imshow(image, cmap="gray_r", interpolation="nearest", extent=extent)
        p = pred.proba[i, pred.y_pred[i]]
        ax.text(
            x0 + 0.5,
            top - label,
            f"true {pred.y_true[i]} → pred {pred.y_pred[i]}\n(p = {p:.2f})",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set(xlim=(-0.05, cols * pitch_x - 0.2), ylim=(rows * pitch_y + 0.05, 0), aspect="equal")
    fig.suptitle(txt(f"Most confident test mistakes: {title}", 60))
    return save(fig, path)
