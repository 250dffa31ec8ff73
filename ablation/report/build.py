"""``build_report``: MLflow store -> tables, statistics, figures -> report.md/.html, summary.csv."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ablation.naming import safe_name
from ablation.report import figures as figs
from ablation.report import runs as store
from ablation.report import sections
from ablation.report.cells import add_factors, level_key, summarize_cells, varying
from ablation.report.compare import compare
from ablation.report.errors import ReportError
from ablation.report.predictions import PredictionsUnavailable, predict
from ablation.report.reference import load_reference
from ablation.report.render import Document, Heading, Para, to_html, to_markdown

MAX_CONFUSION_RUNS = 20
FIGURE_NAMES = (
    "paper_vs_ours.png",
    "learning_curves.png",
    "learning_curves_val.png",
    "accuracy_by_factor.png",
    "per_class_recall.png",
    "confusion_best.png",
    "confusion_worst.png",
    "roc.png",
    "pr.png",
    "misclassified.png",
)


@dataclass
class ReportResult:
    """What a build produced (``build_report`` returns only ``markdown``)."""

    markdown: Path
    html: Path
    summary_csv: Path
    figures: list[Path]
    comparison: pd.DataFrame | None
    cells: pd.DataFrame
    seconds: float


def _norm(label: str) -> str:
    return " ".join(str(label).split())


def _cell_labels(cells: pd.DataFrame, vary: list[str]) -> pd.DataFrame:
    """Keep the store's cell labels unless two cells share one; then label by factors."""
    if cells["cell"].duplicated().any():
        cells = cells.assign(
            cell=[" ".join(f"{f}={r[f]}" for f in vary) for _, r in cells.iterrows()]
        )
    return cells


def _read_confusion(path: Path) -> np.ndarray | None:
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
        m = _read_confusion(got) if got else None
        if m is not None and (total is None or total.shape == m.shape):
            total = m if total is None else total + m
            used += 1
    return total, used


def ranking_metric(done: pd.DataFrame) -> tuple[str, str]:
    """What "best" and "worst" cell mean: by validation accuracy when every finished cell
    has a validation split (choices are made there, not on the test set), else by test."""
    if len(done) and done["val_acc_mean"].notna().all():
        return "val_acc_mean", "validation"
    return "test_acc_mean", "test"


def _choose_roc_cell(cells: pd.DataFrame, roc_cell: str | None) -> pd.Series | None:
    done = cells[cells["n_seeds"] > 0]
    if done.empty:
        return None
    if roc_cell is None:
        return done.loc[done[ranking_metric(done)[0]].idxmax()]
    hit = done[done["cell"].map(_norm) == _norm(roc_cell)]
    if hit.empty:
        available = ", ".join(repr(c) for c in done["cell"])
        raise ReportError(f"unknown --roc-cell {roc_cell!r}; cells with finished runs: {available}")
    return hit.iloc[0]


class ReportWriteError(ReportError):
    """The report could not be written (disk full, file-size limit, permissions)."""


#: Files the report owns in its folder; anything else there is the user's and is left alone.
REPORT_FILES = ("report.md", "report.html", "summary.csv", "paper_vs_ours.csv")


@contextlib.contextmanager
def _staging():
    """Stage folders made inside this block are removed if it fails; an OSError while
    writing becomes one ``ReportWriteError`` line. ``stages.append`` registers a folder."""
    stages: list[Path] = []
    try:
        yield stages
    except OSError as err:
        where = stages[0].parent if stages else err.filename or "the --out folder"
        raise ReportWriteError(
            f"cannot write the report to {where}: {err.strerror or err}; free space or pass --out"
        ) from None
    finally:
        for stage in stages:
            shutil.rmtree(stage, ignore_errors=True)


def _new_stage(target: Path, stages: list[Path]) -> Path:
    """A hidden folder beside ``target`` (same file system, so moving out of it is a rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    stages.append(stage)
    return stage


def _install(stage: Path, target: Path) -> None:
    """Move the finished report from ``stage`` into ``target``, file by file with
    ``os.replace`` (a rename: no file is ever seen half-written), figures first and
    report.html last; then drop report files this build did not make. Other files in
    ``target`` are left alone."""
    (target / "figures").mkdir(parents=True, exist_ok=True)
    made = {p.name for p in (stage / "figures").glob("*.png")}
    for name in sorted(made):
        os.replace(stage / "figures" / name, target / "figures" / name)
    for name in FIGURE_NAMES:
        if name not in made:
            (target / "figures" / name).unlink(missing_ok=True)
    for name in REPORT_FILES:
        if (stage / name).exists():
            os.replace(stage / name, target / name)
        elif name == "paper_vs_ours.csv":
            (target / name).unlink(missing_ok=True)


def build(*args, **kwargs) -> ReportResult:
    """Build the full report (arguments as ``build_report``), written to a hidden folder
    beside the target and moved into place only once every file is complete."""
    with _staging() as stages:
        return _build(*args, stages=stages, **kwargs)


def _build(
    experiment: str,
    tracking_uri: str | None = None,
    out_dir: str | Path = "reports",
    parent: str | None = None,
    filter_string: str | None = None,
    reference: str | None = "ghimire2023",
    roc_cell: str | None = None,
    make_figures: bool = True,
    *,
    stages: list[Path],
) -> ReportResult:
    """Build the full report into a stage folder registered in ``stages``; install it."""
    t0 = time.perf_counter()
    ref = load_reference(reference) if reference else None
    uri = store.resolve_uri(tracking_uri)
    client = store.open_client(uri)
    exp = store.find_experiment(client, experiment)
    raw = store.fetch_runs(client, exp, parent=parent, filter_string=filter_string)
    task = sections.user_task(raw)
    if task:  # the paper's comparison is of the paper's network and factors only
        ref = None
    runs, factors = add_factors(store.latest_per_config(raw))
    vary = varying(runs, factors)
    cells = _cell_labels(summarize_cells(runs, vary), vary)
    for f in reversed(factors):  # constant factors too: summary.csv says what was held fixed
        if f not in cells and runs[f].nunique() == 1:
            cells.insert(0, f, runs[f].iloc[0])
    runs = runs.merge(cells[[*vary, "cell"]], on=vary, how="left")
    fin = runs[runs["status"] == "FINISHED"].copy()
    roc_row = _choose_roc_cell(cells, roc_cell)

    root = Path(out_dir).resolve()
    target = (root / safe_name(experiment)).resolve()
    if root not in target.parents:
        raise ReportError(f"refusing to write outside {root}: {target}")
    stage = _new_stage(target, stages)
    fig_dir = stage / "figures"
    fig_dir.mkdir()

    comp = compare(ref, runs, vary) if ref else None
    hist = _histories(client if (make_figures or comp is not None) else None, fin)
    doc = Document(title=f"Ablation report: {experiment}")
    ctx = sections.Context(
        experiment=experiment,
        uri=uri,
        parent=parent,
        filter_string=filter_string,
        ref=ref,
        raw=raw,
        runs=runs,
        fin=fin,
        factors=factors,
        vary=vary,
        cells=cells,
        comp=comp,
        fig_dir=fig_dir,
        sort_key=level_key,
        task=task,
    )
    sections.overview(doc, ctx)
    sections.protocol(doc, ctx)
    if comp is not None:
        sections.comparison(doc, ctx, figs.paper_vs_ours if make_figures else None)
        from ablation.report.budget import budget_table

        budget = budget_table(hist, comp, fin)
        sections.budget_matched(doc, ctx, budget)
    else:
        budget = None
    sections.validation(doc, ctx, hist)
    sections.grid(doc, ctx)
    sections.effects(doc, ctx)
    sections.per_class(doc, ctx, make_figures)

    figures: list[Path] = []
    if make_figures and not fin.empty:
        figures = _figure_section(doc, ctx, client, roc_row, hist, budget)
    sections.failures(doc, ctx)
    sections.provenance(doc, ctx)
    figures = sorted({*figures, *(p for p in fig_dir.glob("*.png") if p.name in FIGURE_NAMES)})

    (stage / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    (stage / "report.html").write_text(to_html(doc), encoding="utf-8")
    cells.assign(run_ids=cells["run_ids"].map(";".join)).to_csv(stage / "summary.csv", index=False)
    if comp is not None:
        comp.to_csv(stage / "paper_vs_ours.csv", index=False)
    _install(stage, target)
    figures = [target / "figures" / p.name for p in figures]
    return ReportResult(
        target / "report.md",
        target / "report.html",
        target / "summary.csv",
        figures,
        comp,
        cells,
        time.perf_counter() - t0,
    )


HISTORY_KEYS = ("test/acc", "train/acc", "val/acc", "val/loss")


def _histories(client, fin: pd.DataFrame) -> pd.DataFrame:
    """Metric histories of the finished runs (an empty table without a client or runs)."""
    if client is None or fin.empty:
        return pd.DataFrame(columns=["run_id", "key", "step", "value"])
    return store.fetch_histories(client, list(fin["run_id"]), keys=HISTORY_KEYS)


def _curves_caption(
    ctx, enc, per_epoch: dict, split: str, refs: bool, one_step: bool = False
) -> str:
    """What the learning-curve figure shows, naming only what varies in it."""
    from ablation.report.budget import updates_per_epoch

    steps = "the task's logged steps" if ctx.task else "epochs (passes over the training set)"
    if one_step:
        return (
            f"The task logged {split} accuracy (%) at one step per run, so each run is a dot "
            "(marker = mean over seeds) instead of a learning curve."
        )
    text = f"Learning curves: {split} accuracy (%) against {steps}, line = mean over seeds"
    n = ctx.fin.groupby("cell")["run_id"].count()
    if (n >= figs.MIN_SEEDS_FOR_BAND).any():
        text += (
            f"; band = 95% t-interval clipped to [0, 100], drawn for cells with at least "
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


def _short(ctx, row) -> str:
    """A cell named by the factors that vary in this report only."""
    named = [f"{f}={row[f]}" for f in ctx.vary if f in row and ctx.cells[f].nunique() > 1]
    return ", ".join(named) or str(row["cell"])


def _figure_section(doc: Document, ctx, client, roc_row, hist, budget) -> list[Path]:
    from ablation.report.budget import updates_per_epoch

    made: list[Path] = []
    doc.add(Heading("Figures"))
    enc = figs.encoding(ctx.fin, ctx.vary)
    per_epoch = {
        cell: updates_per_epoch(g["params"].iloc[0])
        for cell, g in ctx.fin.groupby("cell")
        if not ctx.task  # a user's task logs its own steps, not the MLP's epochs
    }
    refs = [] if budget is None else list(zip(budget["cell"], budget["paper_test"], strict=True))
    for key, name, what in (
        ("test/acc", "learning_curves.png", "test"),
        ("val/acc", "learning_curves_val.png", "validation"),
    ):
        if hist.empty or not (hist["key"] == key).any():
            if key == "test/acc":
                doc.add(Para("No test/acc history was logged, so no learning curves.", "note"))
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
        )
        made.append(p)
        one = figs.logged_steps(hist, key) <= 1
        caption = _curves_caption(ctx, enc, per_epoch, what, bool(shown), one_step=one)
        sections.image(doc, ctx, p, caption)
    if any(ctx.fin[f].nunique() > 1 for f in ctx.vary):
        vary = [f for f in ctx.vary if ctx.fin[f].nunique() > 1]
        p = figs.interaction_plot(ctx.fin, vary, ctx.fig_dir / "accuracy_by_factor.png", enc=enc)
        made.append(p)
        sections.image(doc, ctx, p, figs.interaction_caption(ctx.fin, vary))
    done = ctx.cells[ctx.cells["n_seeds"] > 0]
    key, split = ranking_metric(done)
    best = done.loc[done[key].idxmax()]
    worst = done.loc[done[key].idxmin()]
    pairs = [("best", best)] + ([("worst", worst)] if worst["cell"] != best["cell"] else [])
    with tempfile.TemporaryDirectory(prefix="ablation-report-") as tmp:
        for kind, row in pairs:
            m, used = _summed_confusion(client, row["run_ids"], Path(tmp))
            if m is None:
                if not ctx.task:  # the MLP saves one; a user's task may not
                    doc.add(Para(f"No confusion_matrix.csv artifact for the {kind} cell.", "note"))
                continue
            cell = _short(ctx, row)
            by = f" by {split} accuracy" if split == "validation" else ""
            title = f"Confusion matrix, {kind} cell{by}: {cell} (summed over {used} seed(s))"
            p = figs.confusion(m, title, ctx.fig_dir / f"confusion_{kind}.png")
            made.append(p)
            sections.image(
                doc,
                ctx,
                p,
                title + "; numbers are counts of test digits. Off the diagonal (errors) the "
                "colour is the count, so the largest confusions stand out; the diagonal "
                "(correct) is grey with its count.",
            )
        if not ctx.task:  # ROC/PR and the gallery predict with the MLP's saved weights
            made += _prediction_figures(doc, ctx, client, roc_row, Path(tmp))
    return made


def _prediction_figures(doc, ctx, client, row, tmp: Path) -> list[Path]:
    if row is None:
        return []
    run_id = row["run_ids"][0]
    params = ctx.runs.set_index("run_id").loc[run_id, "config"]
    # a folder named by the store is never written to: the test set is cached where the
    # user's own settings say (ABLATION_CACHE_DIR or the user cache), not in data.cache_dir
    params = {k: v for k, v in params.items() if k != "data.cache_dir"}
    seed = params.get("seed", "?")
    doc.add(Heading("ROC and precision-recall curves", 3))
    weights = store.download_artifact(client, run_id, "weights.npz", tmp / f"w-{run_id}")
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
        return []
    title = f"{_short(ctx, row)} (seed\u00a0{seed})"  # no-break: the seed stays with its number
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
    sections.ap_table(doc, curves)
    made = [ctx.fig_dir / "roc.png", ctx.fig_dir / "pr.png"]
    sections.image(
        doc,
        ctx,
        made[0],
        f"One-vs-rest ROC curves per digit, {title}; false-positive rate on a log scale so "
        "that curves with AUC close to 1 still differ.",
    )
    sections.image(
        doc,
        ctx,
        made[1],
        f"One-vs-rest precision-recall curves per digit, {title}; the right-hand panel zooms on "
        "recall >= 0.9, where the curves differ.",
    )
    p = figs.misclassified_gallery(pred, title, ctx.fig_dir / "misclassified.png")
    if p is not None:
        made.append(p)
        sections.image(
            doc,
            ctx,
            p,
            f"The {min(16, int((pred.y_pred != pred.y_true).sum()))} most confident mistakes "
            f"on the test set, {title}: "
            "true digit → predicted digit (predicted probability).",
        )
    return made


def build_report(
    experiment: str,
    tracking_uri: str | None = None,
    out_dir: str | Path = "reports",
    parent: str | None = None,
    filter_string: str | None = None,
    reference: str | None = "ghimire2023",
    roc_cell: str | None = None,
    make_figures: bool = True,
) -> Path:
    """Write ``<out_dir>/<experiment>/report.md`` (+ report.html, summary.csv, figures/).

    ``tracking_uri`` defaults to ``$MLFLOW_TRACKING_URI`` or ``sqlite:///<cwd>/mlruns/mlflow.db``;
    ``parent`` restricts to one sweep; ``filter_string`` is an MLflow run filter ANDed with
    the child-run filter; ``reference`` names the packaged paper results (None: no
    comparison); ``roc_cell`` is the cell label for ROC/PR curves (default: best cell).
    Returns the path of report.md. Raises ``ReportError`` for problems the user can fix.
    """
    return build(
        experiment, tracking_uri, out_dir, parent, filter_string, reference, roc_cell, make_figures
    ).markdown
