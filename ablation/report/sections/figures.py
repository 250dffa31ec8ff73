"""Figures: every call of ``ablation.report.figures`` that draws the report's figures
(learning curves, by-factor plot, confusion matrices, ROC/PR, the error gallery), in one
place, with the caption that says what each shows."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ablation.report import figures as figs
from ablation.report import runs as store
from ablation.report.budget import updates_per_epoch
from ablation.report.predictions import PredictionsUnavailable, predict
from ablation.report.render import Document, Heading, Para, Table
from ablation.report.sections.common import Context, image, num, ranked, short

MAX_CONFUSION_RUNS = 20


def read_confusion(path: Path) -> np.ndarray | None:
    """Counts from ``confusion_matrix.csv`` (a header row; a true-label column is optional)."""
    try:
        values = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    except (OSError, ValueError):  # unreadable artifact: skip it
        return None
    if values.shape[1] == values.shape[0] + 1:  # first column holds the true label
        values = values[:, 1:]
    return values if values.shape[0] == values.shape[1] > 1 else None


def _summed_confusion(client, run_ids: list[str], tmp: Path) -> tuple[np.ndarray | None, int]:
    """Sum of the runs' confusion matrices (at most MAX_CONFUSION_RUNS, lowest seeds first)."""
    total, used = None, 0
    for rid in run_ids[:MAX_CONFUSION_RUNS]:
        got = store.download_artifact(client, rid, "confusion_matrix.csv", tmp / rid)
        m = read_confusion(got) if got else None
        if m is not None and (total is None or total.shape == m.shape):
            total = m if total is None else total + m
            used += 1
    return total, used


def _curves_caption(
    ctx: Context, enc, per_epoch: dict, what: str, refs: bool, one_step: bool = False
) -> str:
    """What the learning-curve figure shows, naming only what varies in it."""
    if one_step:
        return (
            f"The task logged {what} at one step per run, so each run is a dot (marker = mean "
            "over seeds, bar = 95% t-interval with at least 3 seeds) instead of a learning curve."
        )
    steps = "the task's logged steps" if ctx.task else "epochs (passes over the training set)"
    text = f"Learning curves: {what} against {steps}, line = mean over seeds"
    n = ctx.fin.groupby("cell")["run_id"].count()
    if (n >= figs.MIN_SEEDS_FOR_BAND).any():
        text += (
            f"; band = 95% t-interval clipped to the metric's range, drawn for cells with at least "
            f"{figs.MIN_SEEDS_FOR_BAND} seeds"
        )
    else:
        text += f"; no band (fewer than {figs.MIN_SEEDS_FOR_BAND} seeds per cell)"
    if enc.facet:
        text += f". One panel per level of {enc.facet}"
    if enc.colour:
        text += f"; colour = {', '.join(enc.colour)}, the same in every figure of this report"
    if len(set(per_epoch.values())) > 1:
        by_optim: dict[str, set] = {}
        for params in ctx.fin["params"]:
            u = updates_per_epoch(params)
            by_optim.setdefault(params.get("optim.name", "?"), set()).add(u or "?")
        parts = [f"{o}: {' or '.join(map(str, sorted(u, key=str)))}" for o, u in by_optim.items()]
        text += ". Parameter updates per epoch: " + "; ".join(parts)
    text += (
        ". Each curve has its own marker, so curves drawn on top of each other stay visible"
        " (they are named under the figure); when the curves span only part of the range,"
        " the y axis is zoomed to where they differ and a small panel under each shows the"
        " full range"
    )
    if refs:
        text += (
            ". Dotted and labelled: the paper's test accuracy for the cell (see the"
            " budget-matched table)"
        )
    return text + "."


def _learning_curves(doc: Document, ctx: Context, enc) -> None:
    hist = ctx.hist
    per_epoch = {
        cell: updates_per_epoch(g["params"].iloc[0])
        for cell, g in ctx.fin.groupby("cell")
        if not ctx.task  # a user's task logs its own steps, not the MLP's epochs
    }
    budget = ctx.budget
    refs = []
    if budget is not None:  # a calibration row's line says so, as its table row does
        calibrated = set()
        if ctx.comp is not None and "calibrated" in ctx.comp:
            calibrated = set(ctx.comp.loc[ctx.comp["calibrated"].astype(bool), "label"])
        for _, r in budget.iterrows():
            note = "calibration row" if r["paper_row"] in calibrated else ""
            refs.append((r["cell"], r["paper_test"], note))
    # the compared metric's history (test/acc for the built-in network), and validation
    # accuracy where a split was held out
    primary = ctx.metric.key
    curves = [(primary, "learning_curves.png")]
    if primary != "val/acc":
        curves.append(("val/acc", "learning_curves_val.png"))
    for key, name in curves:
        info = figs.metric_info(key, ctx.metric.goal if key == primary else None)
        if hist is None or hist.empty or not (hist["key"] == key).any():
            if key == primary:
                doc.add(Para(f"No {key} history was logged, so no learning curves.", "note"))
            continue
        shown = refs if key == "test/acc" else []
        p = figs.learning_curves(
            hist,
            ctx.fin,
            enc,
            ctx.fig_dir / name,
            key=key,
            updates_per_epoch=per_epoch,
            references=shown,
            step_label="step (as logged by the task)" if ctx.task else None,
            metric=info,
        )
        one = figs.logged_steps(hist, key) <= 1
        caption = _curves_caption(ctx, enc, per_epoch, info.label, bool(shown), one_step=one)
        image(doc, ctx, p, caption)


def _by_factor(doc: Document, ctx: Context, enc) -> None:
    if not any(ctx.fin[f].nunique() > 1 for f in ctx.vary):
        return
    vary = [f for f in ctx.vary if ctx.fin[f].nunique() > 1]
    info = figs.metric_info(ctx.metric.key, ctx.metric.goal)
    path = ctx.fig_dir / "accuracy_by_factor.png"
    p = figs.interaction_plot(ctx.fin, vary, path, metric=info, enc=enc)
    image(doc, ctx, p, figs.interaction_caption(ctx.fin, vary, metric=info))


def _confusions(doc: Document, ctx: Context, tmp: Path) -> None:
    got = ranked(ctx)
    if got is None:
        return
    best, worst, by = got
    pairs = [("best", best)] + ([("worst", worst)] if worst["cell"] != best["cell"] else [])
    for kind, row in pairs:
        m, used = _summed_confusion(ctx.client, row["run_ids"], tmp)
        if m is None:
            if not ctx.task:  # the MLP saves one; a user's task may not
                doc.add(Para(f"No confusion_matrix.csv artifact for the {kind} cell.", "note"))
            continue
        cell = short(ctx, row)
        by_text = f" by {by}" if by != "test accuracy" else ""
        title = f"Confusion matrix, {kind} cell{by_text}: {cell} (summed over {used} seed(s))"
        p = figs.confusion(m, title, ctx.fig_dir / f"confusion_{kind}.png")
        image(
            doc,
            ctx,
            p,
            title + "; numbers are counts of test digits. Off the diagonal (errors) the "
            "colour is the count, so the largest confusions stand out; the diagonal "
            "(correct) is grey with its count.",
        )


def ap_table(doc: Document, curves: dict) -> None:
    digits = [str(k) for k in range(len(curves["auc"]))]
    rows = [
        ["ROC AUC", *(num(v, 4) for v in curves["auc"])],
        ["average precision", *(num(v, 4) for v in curves["ap"])],
    ]
    doc.add(Table(pd.DataFrame(rows, columns=["digit", *digits])))


def _prediction_figures(doc: Document, ctx: Context, tmp: Path) -> None:
    row = ctx.roc_row
    if row is None:
        return
    run_id = row["run_ids"][0]
    params = ctx.runs.set_index("run_id").loc[run_id, "config"]
    # a folder named by the store is never written to: the test set is cached where the
    # user's own settings say (ABLATION_CACHE_DIR or the user cache), not in data.cache_dir
    params = {k: v for k, v in params.items() if k != "data.cache_dir"}
    seed = params.get("seed", "?")
    doc.add(Heading("ROC and precision-recall curves", 3))
    weights = store.download_artifact(ctx.client, run_id, "weights.npz", tmp / f"w-{run_id}")
    try:
        if weights is None:
            raise PredictionsUnavailable("the run has no weights.npz artifact")
        pred = predict(weights, params)
    except PredictionsUnavailable as exc:
        doc.add(
            Para(
                f"ROC/PR curves and the error gallery for cell {row['cell']} were skipped: {exc}.",
                "note",
            )
        )
        return
    title = f"{short(ctx, row)} (seed\u00a0{seed})"  # no-break: the seed stays with its number
    curves = figs.roc_pr(pred, title, ctx.fig_dir / "roc.png", ctx.fig_dir / "pr.png")
    acc = 100 * float((pred.y_pred == pred.y_true).mean())
    doc.add(
        Para(
            f"Computed from the saved weights of cell {row['cell']}, seed {seed} (run {run_id}) on "
            f"its test set ({len(pred.y_true)} images; accuracy of these weights {acc:.2f}%). "
            f"Macro-average one-vs-rest AUC {np.nanmean(curves['auc']):.4f}, "
            f"macro-average AP {np.nanmean(curves['ap']):.4f}."
        )
    )
    ap_table(doc, curves)
    image(
        doc,
        ctx,
        ctx.fig_dir / "roc.png",
        f"One-vs-rest ROC curves per digit, {title}; false-positive rate on a log scale so "
        "that curves with AUC close to 1 still differ.",
    )
    image(
        doc,
        ctx,
        ctx.fig_dir / "pr.png",
        f"One-vs-rest precision-recall curves per digit, {title}; the right-hand panel zooms on "
        "recall >= 0.9, where the curves differ.",
    )
    p = figs.misclassified_gallery(pred, title, ctx.fig_dir / "misclassified.png")
    if p is not None:
        image(
            doc,
            ctx,
            p,
            f"The {min(16, int((pred.y_pred != pred.y_true).sum()))} most confident mistakes "
            f"on the test set, {title}: "
            "true digit → predicted digit (predicted probability).",
        )


def section(doc: Document, ctx: Context) -> None:
    if not ctx.make_figures or ctx.fin.empty:
        return
    doc.add(Heading("Figures"))
    enc = figs.encoding(ctx.fin, ctx.vary)
    _learning_curves(doc, ctx, enc)
    _by_factor(doc, ctx, enc)
    with tempfile.TemporaryDirectory(prefix="ablation-report-") as tmp:
        _confusions(doc, ctx, Path(tmp))
        if not ctx.task:  # ROC/PR and the gallery predict with the MLP's saved weights
            _prediction_figures(doc, ctx, Path(tmp))
