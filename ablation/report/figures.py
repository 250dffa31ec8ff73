"""Report figures (matplotlib object API + seaborn; no pyplot, so no global backend state).

Each function draws one PNG and returns its path. Text from the store goes through
``_txt`` so a ``$`` in a label cannot trigger mathtext.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ablation.report.stats import t_ci

DPI = 110


def _txt(text, limit: int = 60) -> str:
    s = str(text).replace("$", r"\$").replace("\n", " ")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _palette(n: int):
    return sns.color_palette("tab10" if n <= 10 else "husl", n)


def _tci(values) -> tuple[float, float]:
    mean, lo, hi, _ = t_ci(values)
    return (mean, mean) if math.isnan(lo) else (lo, hi)


def paper_vs_ours(comp: pd.DataFrame, path: Path) -> Path:
    """Paper's test accuracy (x marker) against ours (mean with 95% CI) per reference row."""
    fig = Figure(figsize=(8, 0.6 * len(comp) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(comp))[::-1]
    ax.scatter(comp["paper_test"], y, marker="x", s=70, color="black", label="paper", zorder=3)
    ours = comp["ours_test"].to_numpy(float)
    lo = comp["ours_test_lo"].fillna(comp["ours_test"]).to_numpy(float)
    hi = comp["ours_test_hi"].fillna(comp["ours_test"]).to_numpy(float)
    ok = ~np.isnan(ours)
    ax.errorbar(
        ours[ok],
        y[ok],
        xerr=[ours[ok] - lo[ok], hi[ok] - ours[ok]],
        fmt="o",
        color="tab:blue",
        capsize=4,
        label="ours (mean, 95% CI)",
    )
    for yi in y[~ok]:
        ax.annotate(
            "not run",
            (np.nanmin(comp["paper_test"]), yi),
            xytext=(8, -3),
            textcoords="offset points",
            color="gray",
        )
    ax.set_yticks(y, [_txt(lb, 40) for lb in comp["label"]])
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("Paper vs. reproduction: test accuracy")
    ax.grid(axis="x", alpha=0.3)
    ax.margins(y=0.15)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8, frameon=False)
    return _save(fig, path)


def learning_curves(hist: pd.DataFrame, runs: pd.DataFrame, vary: list[str], path: Path) -> Path:
    """Test accuracy vs. step per cell: mean over seeds with a 95% t-CI band.

    ``hist`` is the long table from ``runs.fetch_histories``; ``runs`` maps run_id to cell.
    With more than six cells the last varying factor splits the panels.
    """
    h = hist[hist["key"] == "test/acc"].merge(runs[["run_id", "cell", *vary]], on="run_id")
    h = h.assign(value=100.0 * h["value"])
    cells = list(dict.fromkeys(runs.sort_values("cell")["cell"]))
    panel_by = vary[-1] if len(cells) > 6 and len(vary) > 1 else None
    panels = sorted(h[panel_by].unique()) if panel_by else [None]
    colours = dict(zip(cells, _palette(len(cells)), strict=True))
    fig = Figure(figsize=(6.5 * len(panels), 4.6))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, squeeze=False)[0])
    for ax, panel in zip(axes, panels, strict=True):
        sub = h if panel is None else h[h[panel_by] == panel]
        for cell, g in sub.groupby("cell", sort=True):
            agg = g.groupby("step")["value"].agg(list)
            stats = np.array([(*_tci(v), np.mean(v)) for v in agg])
            steps = agg.index.to_numpy()
            ax.plot(steps, stats[:, 2], color=colours[cell], label=_txt(cell, 45), lw=1.6)
            ax.fill_between(steps, stats[:, 0], stats[:, 1], color=colours[cell], alpha=0.2)
        ax.set_xlabel("training step (as logged)")
        if panel_by:
            ax.set_title(f"{_txt(panel_by)} = {_txt(panel)}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0].set_ylabel("test accuracy (%)")
    fig.suptitle("Test accuracy during training (mean over seeds; band = 95% CI)")
    return _save(fig, path)


def accuracy_by_factor(fin: pd.DataFrame, vary: list[str], path: Path) -> Path:
    """Final test accuracy per level of each varying factor (mean, 95% t-CI, seeds as dots)."""
    fig = Figure(figsize=(3.6 * len(vary) + 0.8, 4.2))
    axes = np.atleast_1d(fig.subplots(1, len(vary), sharey=True, squeeze=False)[0])
    from ablation.report.cells import sorted_levels

    for ax, factor in zip(axes, vary, strict=True):
        order = sorted_levels(factor, fin[factor].unique())
        sns.stripplot(
            data=fin, x=factor, y="test_acc", order=order, ax=ax, color="0.6", size=4, jitter=0.15
        )
        sns.pointplot(
            data=fin,
            x=factor,
            y="test_acc",
            order=order,
            ax=ax,
            errorbar=_tci,
            capsize=0.15,
            color="tab:blue",
            linestyle="none",
            markers="D",
        )
        ax.set_xlabel(_txt(factor))
        ax.set_xticks(range(len(order)), [_txt(o, 15) for o in order])
        ax.set_ylabel("")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("final test accuracy (%)")
    fig.suptitle("Test accuracy by factor (mean over runs and other factors; 95% t-CI)")
    return _save(fig, path)


def per_class_heatmap(table: pd.DataFrame, path: Path, what: str = "recall") -> Path:
    """Cells x digits heatmap of per-class recall (or precision) in percent."""
    fig = Figure(figsize=(9, 0.45 * len(table) + 1.8))
    ax = fig.subplots()
    shown = table.copy()
    shown.index = [_txt(i, 45) for i in shown.index]
    sns.heatmap(
        shown,
        ax=ax,
        annot=True,
        fmt=".1f",
        cmap="RdYlGn",
        vmin=max(0.0, np.nanmin(shown.to_numpy(float)) if shown.size else 0.0),
        vmax=100,
        cbar_kws={"label": f"{what} (%)"},
        annot_kws={"fontsize": 7},
    )
    ax.set_xlabel("digit")
    ax.set_ylabel("cell")
    ax.set_title(f"Per-digit test {what} (%), mean over seeds")
    return _save(fig, path)


def confusion(matrix: np.ndarray, title: str, path: Path) -> Path:
    """Confusion matrix heatmap (counts annotated, colour = share of the true class)."""
    fig = Figure(figsize=(6.6, 5.6))
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    sns.heatmap(
        100 * share,
        ax=ax,
        annot=matrix.astype(int),
        fmt="d",
        cmap="Blues",
        vmin=0,
        vmax=100,
        cbar_kws={"label": "share of true digit (%)"},
        annot_kws={"fontsize": 7},
    )
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(_txt(title, 90), fontsize=10)
    return _save(fig, path)


def roc_pr(pred, title: str, roc_path: Path, pr_path: Path) -> dict[str, list[float]]:
    """One-vs-rest ROC (with AUC) and precision-recall (with AP) curves per digit."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    classes = range(pred.proba.shape[1])
    colours = _palette(len(classes))
    out = {"auc": [], "ap": []}
    fig_roc, fig_pr = Figure(figsize=(6.4, 5.6)), Figure(figsize=(6.4, 5.6))
    ax_roc, ax_pr = fig_roc.subplots(), fig_pr.subplots()
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
        ax_roc.plot(fpr, tpr, color=colours[k], lw=1.2, label=f"digit {k} (AUC {a:.3f})")
        ax_pr.plot(rec, prec, color=colours[k], lw=1.2, label=f"digit {k} (AP {ap:.3f})")
    ax_roc.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1)
    ax_roc.set(
        xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01)
    )
    ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    ax_roc.set_title(f"One-vs-rest ROC: {_txt(title, 60)}", fontsize=10)
    ax_pr.set_title(f"One-vs-rest precision-recall: {_txt(title, 60)}", fontsize=10)
    for ax, loc in ((ax_roc, "lower right"), (ax_pr, "lower left")):
        ax.legend(fontsize=7, loc=loc)
        ax.grid(alpha=0.3)
    _save(fig_roc, roc_path)
    _save(fig_pr, pr_path)
    return out


def misclassified_gallery(pred, title: str, path: Path, n: int = 16) -> Path | None:
    """The ``n`` most confident mistakes on the test set, with true and predicted digit."""
    wrong = np.flatnonzero(pred.y_pred != pred.y_true)
    if wrong.size == 0:
        return None
    conf = pred.proba[wrong, pred.y_pred[wrong]]
    pick = wrong[np.argsort(-conf, kind="stable")[:n]]
    side = int(round(math.sqrt(pred.X.shape[1])))
    cols = 4
    rows = math.ceil(len(pick) / cols)
    fig = Figure(figsize=(1.9 * cols, 2.1 * rows + 0.5))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, pick, strict=False):
        if side * side == pred.X.shape[1]:
            ax.imshow(pred.X[i].reshape(side, side), cmap="gray_r", interpolation="nearest")
        p = pred.proba[i, pred.y_pred[i]]
        ax.set_title(f"true {pred.y_true[i]} → pred {pred.y_pred[i]}\n(p = {p:.2f})", fontsize=8)
    fig.suptitle(f"Most confident test mistakes: {_txt(title, 60)}", fontsize=10)
    return _save(fig, path)
