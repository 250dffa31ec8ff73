"""Report figures (matplotlib object API + seaborn; no pyplot, so no global backend state).

One style for every figure (``STYLE``, applied by ``_styled``); one colour per level of the
colour factor(s), built once per report (``encoding``) and passed to every figure that
draws cells. Labels are wrapped at spaces, never cut. Text from the store goes through
``_txt`` so a ``$`` cannot trigger mathtext. Every figure passes through ``_save``, which
hands it to the observers registered with ``capture`` (tests read the drawn artists).
"""

from __future__ import annotations

import functools
import itertools
import math
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ablation.report.cells import sorted_levels
from ablation.report.stats import MIN_SEEDS, interval

DPI = 110
STYLE = {
    **sns.axes_style("whitegrid"),
    **sns.plotting_context("paper", font_scale=1.15),
    "axes.titlesize": 10,
    "figure.titlesize": 11,
    "legend.fontsize": 8,
    "legend.title_fontsize": 8,
    "legend.frameon": False,
    "savefig.dpi": DPI,
}
MIN_SEEDS_FOR_BAND = MIN_SEEDS  # fewer finished seeds: no band and no bar is drawn
RANGE = "[0,\u00a0100]"  # a no-break space: wrapping never splits the range
_observers: list = []


def _styled(fn):
    @functools.wraps(fn)
    def run(*args, **kwargs):
        with mpl.rc_context(STYLE):
            return fn(*args, **kwargs)

    return run


@contextmanager
def capture() -> Iterator[dict[str, Figure]]:
    """Collect every figure saved inside the block: ``{file name: Figure}`` (a test hook)."""
    drawn: dict[str, Figure] = {}

    def keep(path: Path, fig: Figure) -> None:
        drawn[path.name] = fig

    _observers.append(keep)
    try:
        yield drawn
    finally:
        _observers.remove(keep)


def _txt(text, width: int = 0) -> str:
    """Plain text for matplotlib: ``$`` escaped; wrapped at spaces to ``width`` (never cut)."""
    s = str(text).replace("$", r"\$").replace("\n", " ")
    if width and len(s) > width:
        s = "\n".join(textwrap.wrap(s, width, break_long_words=False, break_on_hyphens=False))
    return s


def varying_words(labels: list[str]) -> list[str]:
    """Labels without the words every label shares (``data=60k`` when all cells have it)."""
    words = [str(lb).split() for lb in labels]
    common = set.intersection(*map(set, words)) if len(words) > 1 else set()
    kept = [" ".join(w for w in ws if w not in common) for ws in words]
    return kept if all(kept) and len(set(kept)) == len(kept) else [str(lb) for lb in labels]


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    for observer in _observers:
        observer(path, fig)
    return path


def clipped_interval(values, low: float = 0.0, high: float = 100.0) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the report's interval (``stats.interval``: 95% t, clipped to
    ``[low, high]``); ``lo``/``hi`` are NaN (no band, no bar) below ``MIN_SEEDS_FOR_BAND``."""
    iv = interval(values, low, high)
    return iv.centre, iv.lo, iv.hi


@dataclass(frozen=True)
class Encoding:
    """How cells map to panels and colours; one per report, shared by every figure."""

    facet: str | None  # the factor that splits panels (the one with most levels)
    colour: tuple[str, ...]  # the factors whose level combination picks the colour
    palette: dict[str, tuple]  # legend label -> colour
    facet_levels: tuple = ()

    def label(self, row) -> str:
        return ", ".join(str(row[f]) for f in self.colour) if self.colour else "all runs"

    @property
    def title(self) -> str:
        return ", ".join(self.colour)


def encoding(fin: pd.DataFrame, vary: list[str]) -> Encoding:
    """Facet by the varying factor with most levels (ties: the later one); colour the rest."""
    moving = [f for f in vary if f in fin and fin[f].nunique() > 1]
    facet = max(reversed(moving), key=lambda f: fin[f].nunique()) if len(moving) > 1 else None
    colour = tuple(f for f in moving if f != facet)
    levels = [sorted_levels(f, fin[f].unique()) for f in colour]
    seen = set(map(tuple, fin[list(colour)].to_numpy())) if colour else set()
    combos = [c for c in itertools.product(*levels) if c in seen] if colour else [()]
    labels = [", ".join(map(str, c)) if c else "all runs" for c in combos]
    colours = sns.color_palette("tab10" if len(labels) <= 10 else "husl", len(labels))
    facets = tuple(sorted_levels(facet, fin[facet].unique())) if facet else ()
    return Encoding(facet, colour, dict(zip(labels, colours, strict=True)), facets)


def _grid(n: int, width: float = 4.6, height: float = 3.6):
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(width * cols + 2.2, height * rows + 0.8), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    for ax in axes[max(n - cols, 0) : n]:  # no panel below: this one shows the x axis
        ax.xaxis.set_tick_params(labelbottom=True)
    return fig, axes[:n]


def _legend(fig: Figure, enc: Encoding, extra: list[tuple] = ()) -> None:
    handles = [Line2D([], [], color=c, lw=2) for c in enc.palette.values()]
    labels = [_txt(lb, 24) for lb in enc.palette]
    for handle, label in extra:
        handles.append(handle)
        labels.append(_txt(label, 24))
    fig.legend(handles, labels, loc="outside right center", title=_txt(enc.title, 24) or None)


@_styled
def paper_vs_ours(comp: pd.DataFrame, path: Path) -> Path:
    """Paper's test accuracy (x) against ours (mean; clipped 95% t-interval with >= 3 seeds).

    Rows without a finished run of ours are not drawn; they are named under the axes.
    """
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
    ax.scatter(ran["ours_test"], y, marker="o", s=30, color="tab:blue", label=_txt(mean, 40))
    if band.any():
        ax.hlines(
            y[band], lo[band], hi[band], color="tab:blue", lw=1.6, label="ours: 95% t-interval"
        )
    ax.set_yticks(y, [_txt(lb, 30) for lb in ran["label"]])
    ax.set_xlabel("test accuracy (%)")
    ax.set_title("Paper vs. reproduction: test accuracy")
    ax.margins(y=0.2)
    fig.legend(loc="outside right upper")
    if absent:  # named under the axes, never drawn over a marker
        note = "Not run in this study: " + "; ".join(absent)
        fig.supxlabel(_txt(note, 100), fontsize=7, color="0.4", ha="left", x=0.01)
    return _save(fig, path)


def _mean_curves(h: pd.DataFrame) -> pd.DataFrame:
    """Per step: mean and clipped interval over the runs of one cell."""
    rows = [(step, *clipped_interval(g["value"])) for step, g in h.groupby("step")]
    return pd.DataFrame(rows, columns=["step", "mean", "lo", "hi"])


@_styled
def learning_curves(
    hist: pd.DataFrame,
    runs: pd.DataFrame,
    enc: Encoding,
    path: Path,
    *,
    key: str = "test/acc",
    updates_per_epoch: dict[str, int | None] | None = None,
    references: list[tuple[str, float]] = (),
    step_label: str | None = None,
) -> Path:
    """Accuracy (%) vs. epochs (passes over the training set) per cell, mean over seeds.

    ``step_label`` names the x axis when the steps are not epochs (a user's task logs
    its own steps); then no update-step axis is drawn.

    ``runs`` maps run_id to cell and factors; ``updates_per_epoch`` (cell -> updates) puts
    update steps on a second axis when every cell has the same number; ``references`` are
    ``(cell, accuracy)`` pairs drawn as dashed lines in the cell's colour.
    """
    cols = ["run_id", "cell", *enc.colour, *([enc.facet] if enc.facet else [])]
    h = hist[hist["key"] == key].merge(runs[cols], on="run_id")
    h = h.assign(value=100.0 * h["value"])
    panels = list(enc.facet_levels) or [None]
    fig, axes = _grid(len(panels))
    banded, last = False, {}
    for ax, panel in zip(axes, panels, strict=True):
        sub = h if panel is None else h[h[enc.facet] == panel]
        for cell, g in sub.groupby("cell", sort=False):
            label = enc.label(g.iloc[0])
            colour = enc.palette[label]
            stats = _mean_curves(g)
            last[cell] = stats["step"].max()
            ax.plot(stats["step"], stats["mean"], color=colour, lw=1.6, label=label)
            ok = stats["lo"].notna()
            if ok.any():
                banded = True
                s = stats[ok]
                ax.fill_between(s["step"], s["lo"], s["hi"], color=colour, alpha=0.15, lw=0)
            for ref_cell, value in references:
                if ref_cell == cell:
                    ax.axhline(value, color=colour, ls="--", lw=1.1)
        if panel is not None:
            ax.set_title(_txt(f"{enc.facet} = {panel}", 40))
    ends = [v for v in last.values() if v > 0]
    if ends and max(ends) > 5 * min(ends):  # e.g. 300 full-batch epochs beside 20 minibatch
        for ax in axes:
            ax.set_xscale("symlog", linthresh=1, linscale=0.4)
        xlabel = "epochs (passes over the training set; log scale above 1)"
    else:
        xlabel = "epochs (passes over the training set)"
    per = {u for u in (updates_per_epoch or {}).values()}
    if step_label:
        xlabel = step_label + (" (log scale above 1)" if "log scale" in xlabel else "")
    elif per == {1}:
        xlabel = "epochs (= full-batch update steps)"
    elif len(per) == 1 and None not in per:
        u = per.pop()
        for ax in axes[: min(len(axes), 3)]:
            top = ax.secondary_xaxis("top", functions=(lambda e, u=u: e * u, lambda s, u=u: s / u))
            top.set_xlabel(f"update steps ({u} per epoch)")
    for i, ax in enumerate(axes):
        ax.set_xlabel(xlabel if i + min(len(axes), 3) >= len(axes) else "")  # no panel below
        ax.set_ylim(None, 100.5)
    split = {"val": "validation"}.get(key.split("/")[0], key.split("/")[0])
    for ax in axes[:: min(len(axes), 3)]:
        ax.set_ylabel(f"{split} accuracy (%)")
    extra = []
    if references:
        extra.append((Line2D([], [], color="0.3", ls="--"), "paper's test accuracy for the cell"))
    _legend(fig, enc, extra)
    band = (
        f"band = 95% t-interval clipped to {RANGE}, cells with >= {MIN_SEEDS_FOR_BAND} seeds"
        if banded
        else f"no band: fewer than {MIN_SEEDS_FOR_BAND} seeds per cell"
    )
    title = f"{split.capitalize()} accuracy during training: mean over seeds; {band}"
    fig.suptitle(_txt(title, 95))
    return _save(fig, path)


@_styled
def accuracy_by_factor(fin: pd.DataFrame, vary: list[str], path: Path) -> Path:
    """Final test accuracy per level of each varying factor (mean, clipped CI, runs as dots)."""
    fig = Figure(figsize=(3.6 * len(vary) + 0.8, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(vary), sharey=True, squeeze=False)[0])
    rng = np.random.default_rng(0)  # jitter only; fixed so the figure is reproducible
    for ax, factor in zip(axes, vary, strict=True):
        order = sorted_levels(factor, fin[factor].unique())
        for i, level in enumerate(order):
            values = fin.loc[fin[factor] == level, "test_acc"].dropna().to_numpy(float)
            ax.scatter(i + rng.uniform(-0.15, 0.15, values.size), values, s=12, color="0.6")
            mean, lo, hi = clipped_interval(values)
            ax.scatter([i], [mean], marker="D", s=36, color="tab:blue", zorder=3)
            if not math.isnan(lo):
                ax.errorbar(
                    [i],
                    [mean],
                    yerr=[[mean - lo], [hi - mean]],
                    color="tab:blue",
                    capsize=4,
                    lw=1.4,
                    fmt="none",
                )
        ax.set_xticks(range(len(order)), [_txt(o, 12) for o in order])
        ax.set_xlim(-0.6, len(order) - 0.4)
        ax.set_xlabel(_txt(factor, 30))
    axes[0].set_ylabel("final test accuracy (%)")
    fig.suptitle(
        _txt(
            "Final test accuracy by factor level: mean over runs pooling the other factors "
            f"(diamond), 95% t-interval clipped to [0, 100] with >= {MIN_SEEDS_FOR_BAND} runs",
            90,
        )
    )
    return _save(fig, path)


@_styled
def per_class_heatmap(table: pd.DataFrame, path: Path, what: str = "recall") -> Path:
    """Cells x digits heatmap of per-class recall (or precision) in percent."""
    fig = Figure(figsize=(9, 0.45 * len(table) + 1.8), layout="constrained")
    ax = fig.subplots()
    shown = table.copy()
    shown.index = [_txt(i, 40) for i in varying_words(list(shown.index))]
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
    ax.tick_params(axis="y", rotation=0)
    ax.set_title(f"Per-digit test {what} (%), mean over seeds")
    return _save(fig, path)


@_styled
def confusion(matrix: np.ndarray, title: str, path: Path) -> Path:
    """Confusion counts: errors coloured by count; the diagonal (correct) grey with its count."""
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
        cmap="Reds",
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
    ax.set_title(_txt(title, 70))
    return _save(fig, path)


@_styled
def roc_pr(pred, title: str, roc_path: Path, pr_path: Path) -> dict[str, list[float]]:
    """One-vs-rest ROC (log false-positive axis, AUC) and PR (full + zoom near 1, AP) per digit."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    classes = range(pred.proba.shape[1])
    colours = sns.color_palette("tab10", len(classes))
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
        ax_roc.step(fpr, tpr, where="post", color=colours[k], lw=1.2)
        for ax in (ax_pr, zoom):
            ax.step(rec, prec, where="post", color=colours[k], lw=1.2)
        ax_roc.plot([], [], color=colours[k], label=f"digit {k} (AUC {a:.4f})")
        ax_pr.plot([], [], color=colours[k], label=f"digit {k} (AP {ap:.4f})")
    ax_roc.set_xscale("log")
    ax_roc.set(xlabel="false positive rate (log scale)", ylabel="true positive rate")
    ax_roc.set(xlim=(floor_fpr, 1), ylim=(-0.01, 1.02))
    ax_pr.set(xlabel="recall", ylabel="precision", xlim=(0, 1.005), ylim=(-0.01, 1.02))
    lo = max(0.0, math.floor(100 * floor_prec) / 100 - 0.01)
    zoom.set(xlim=(0.9, 1.002), ylim=(lo, 1.002), xlabel="recall", ylabel="precision")
    zoom.set_title("zoom on recall >= 0.9")
    ax_pr.indicate_inset_zoom(zoom, edgecolor="0.4")
    ax_roc.set_title(_txt(f"One-vs-rest ROC: {title}", 70))
    fig_pr.suptitle(_txt(f"One-vs-rest precision-recall: {title}", 90))
    ax_pr.set_title("full range")
    for fig, ax in ((fig_roc, ax_roc), (fig_pr, ax_pr)):
        fig.legend(*ax.get_legend_handles_labels(), loc="outside right center")
    _save(fig_roc, roc_path)
    _save(fig_pr, pr_path)
    return out


@_styled
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
    fig = Figure(figsize=(1.9 * cols, 2.1 * rows + 0.7), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, i in zip(axes, pick, strict=False):
        if side * side == pred.X.shape[1]:
            ax.imshow(pred.X[i].reshape(side, side), cmap="gray_r", interpolation="nearest")
        p = pred.proba[i, pred.y_pred[i]]
        ax.set_title(f"true {pred.y_true[i]} → pred {pred.y_pred[i]}\n(p = {p:.2f})", fontsize=8)
    fig.suptitle(_txt(f"Most confident test mistakes: {title}", 60))
    return _save(fig, path)
