"""``build_report``: MLflow store -> tables, statistics, figures -> report.md/.html and the
CSVs beside it. This module only orchestrates: reading (``runs``), cells (``cells``), the
compared metrics (``metrics``), the effects (``analysis``), the sections (``sections``,
in ``SECTIONS`` order), the files (``tables``) and the safe install (``install``)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ablation.naming import safe_name
from ablation.report import runs as store
from ablation.report.analysis import analyse, declared_contrasts
from ablation.report.cells import add_factors, level_key, summarize_cells, varying
from ablation.report.compare import UnknownRow, calibrated_rows, compare
from ablation.report.errors import ReportError
from ablation.report.install import ReportWriteError, install, new_stage, staging
from ablation.report.metrics import choose
from ablation.report.reference import load_reference
from ablation.report.render import Document, to_html, to_markdown
from ablation.report.sections import SECTIONS, Context, user_task
from ablation.report.seed_sections import failed_seeds
from ablation.report.tables import effects_frame, effects_name, runs_frame, summary_frame

__all__ = ["ReportResult", "ReportWriteError", "build", "build_report", "safe_name"]

HISTORY_KEYS = ("test/acc", "train/acc", "val/acc", "val/loss")
#: data sources the packaged paper's numbers are about (its 42k rows: Kaggle's MNIST csv)
PAPER_DATA = {"mnist", "mnist_idx", "kaggle_csv"}


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


def _cell_labels(cells: pd.DataFrame, vary: list[str], task: str | None) -> pd.DataFrame:
    """Keep the store's cell labels unless two cells share one or the runs are of a user's
    task (whose stored labels carry constant fields); then label by the varying factors."""
    if task or cells["cell"].duplicated().any():
        cells = cells.assign(
            cell=[" ".join(f"{f}={r[f]}" for f in vary) for _, r in cells.iterrows()]
        )
    return cells


def _choose_roc_cell(cells: pd.DataFrame, roc_cell: str | None, best) -> pd.Series | None:
    done = cells[cells["n_seeds"] > 0]
    if done.empty:
        return None
    if roc_cell is None:
        return best
    hit = done[done["cell"].map(_norm) == _norm(roc_cell)]
    if hit.empty:
        available = ", ".join(repr(c) for c in done["cell"])
        raise ReportError(f"unknown --roc-cell {roc_cell!r}; cells with finished runs: {available}")
    return hit.iloc[0]


def _reference(name: str | None, task: str | None, runs: pd.DataFrame, metrics) -> object:
    """The paper to compare with: only for the built-in network's runs on the paper's data,
    and only when test accuracy is among the compared metrics (the paper's numbers)."""
    if not name or task or "test/acc" not in {m.key for m in metrics}:
        return None
    data = {str(c.get("data.name", "mnist")) for c in runs["config"] if isinstance(c, dict)}
    return load_reference(name) if data <= PAPER_DATA else None


def _histories(client, fin: pd.DataFrame) -> pd.DataFrame:
    """Metric histories of the finished runs (an empty table without a client or runs)."""
    if client is None or fin.empty:
        return pd.DataFrame(columns=["run_id", "key", "step", "value"])
    return store.fetch_histories(client, list(fin["run_id"]), keys=HISTORY_KEYS)


def build(*args, **kwargs) -> ReportResult:
    """Build the full report (arguments as ``build_report``), written to a hidden folder
    beside the target and moved into place only once every file is complete."""
    with staging() as stages:
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
    metric: str | None = None,
    goal: str | None = None,
    contrasts: str | None = None,
    calibrated: str | None = None,
    *,
    stages: list[Path],
) -> ReportResult:
    t0 = time.perf_counter()
    if reference:
        load_reference(reference)  # an unknown name fails before the store is opened
    uri = store.resolve_uri(tracking_uri)
    client = store.open_client(uri)
    exp = store.find_experiment(client, experiment)
    raw = store.fetch_runs(client, exp, parent=parent, filter_string=filter_string)
    task = user_task(raw)
    runs, factors = add_factors(store.latest_per_config(raw))
    with tempfile.TemporaryDirectory(prefix="ablation-report-") as tmp:
        study = store.study_settings(client, runs, Path(tmp))
    metrics = choose(runs, metric, goal, study)
    vary = varying(runs, factors)
    extra = {m.column: m.bounds for m in metrics}
    cells = _cell_labels(summarize_cells(runs, vary, extra), vary, task)
    for f in reversed(factors):  # constant factors too: summary.csv says what was held fixed
        if f not in cells and runs[f].nunique() == 1:
            cells.insert(0, f, runs[f].iloc[0])
    runs = runs.merge(cells[[*vary, "cell"]], on=vary, how="left")
    fin = runs[runs["status"] == "FINISHED"].copy()
    ref = _reference(reference, task, runs, metrics)

    try:
        picked = calibrated_rows(ref, calibrated) if ref else set()
    except UnknownRow as exc:
        raise ReportError(str(exc)) from None
    if calibrated and not ref:
        raise ReportError(
            "--calibrated names a paper row, but this report has no reference; "
            "drop --calibrated or pass --reference"
        )

    root = Path(out_dir).resolve()
    target = (root / safe_name(experiment)).resolve()
    if root not in target.parents:
        raise ReportError(f"refusing to write outside {root}: {target}")
    stage = new_stage(target, stages)
    fig_dir = stage / "figures"
    fig_dir.mkdir()

    comp = compare(ref, runs, vary, picked) if ref else None
    if comp is not None and (comp["verdict"] == "not run").all():
        comp = None  # the study ran none of the paper's cells: no paper rows at all
    hist = _histories(client if (make_figures or comp is not None) else None, fin)
    flagged = failed_seeds(fin)
    declared = declared_contrasts(runs, client, contrasts, study)
    ctx = Context(
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
        metrics=metrics,
        effects={m.key: analyse(fin, m, vary, declared, level_key, flagged) for m in metrics},
        flagged=flagged,
        declared=declared,
        hist=hist,
        make_figures=make_figures,
        client=client,
    )
    if comp is not None:
        from ablation.report.budget import budget_table

        ctx.budget = budget_table(hist, comp, fin)
    from ablation.report.sections.common import ranked

    best = ranked(ctx)
    ctx.roc_row = _choose_roc_cell(cells, roc_cell, best[0] if best else None)
    doc = Document(title=f"Ablation report: {experiment}")
    for section in SECTIONS:
        section(doc, ctx)

    (stage / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    (stage / "report.html").write_text(to_html(doc), encoding="utf-8")
    summary_frame(cells).to_csv(stage / "summary.csv", index=False)
    runs_frame(runs, vary, flagged).to_csv(stage / "runs.csv", index=False)
    for i, m in enumerate(metrics):
        effects_frame(ctx.effects[m.key].table).to_csv(stage / effects_name(i, m.key), index=False)
    if comp is not None:
        comp.to_csv(stage / "paper_vs_ours.csv", index=False)
    made = sorted({p.name for p in ctx.figures if p.exists()})
    install(stage, target)
    return ReportResult(
        target / "report.md",
        target / "report.html",
        target / "summary.csv",
        [target / "figures" / name for name in made],
        comp,
        cells,
        time.perf_counter() - t0,
    )


def build_report(
    experiment: str,
    tracking_uri: str | None = None,
    out_dir: str | Path = "reports",
    parent: str | None = None,
    filter_string: str | None = None,
    reference: str | None = "ghimire2023",
    roc_cell: str | None = None,
    make_figures: bool = True,
    metric: str | None = None,
    goal: str | None = None,
    contrasts: str | None = None,
    calibrated: str | None = None,
) -> Path:
    """Write ``<out_dir>/<experiment>/report.md`` (+ report.html, summary.csv, runs.csv,
    effects.csv, figures/).

    ``tracking_uri`` defaults to ``$MLFLOW_TRACKING_URI`` or ``sqlite:///<cwd>/mlruns/mlflow.db``;
    ``parent`` restricts to one sweep; ``filter_string`` is an MLflow run filter ANDed with
    the child-run filter; ``reference`` names the packaged paper results (None: no
    comparison); ``roc_cell`` is the cell label for ROC/PR curves (default: best cell);
    ``metric`` / ``goal`` override the study's ``task.metric`` / ``task.goal`` (several
    metrics comma-separated); ``contrasts`` declares the confirmatory contrasts
    (';'-separated, overriding the study's ``contrasts``); ``calibrated`` names the paper rows a
    setting of the study was read off (';'-separated), marked in the table and figure.
    Returns the path of report.md. Raises ``ReportError`` for problems the user can fix.
    """
    return build(
        experiment,
        tracking_uri,
        out_dir,
        parent,
        filter_string,
        reference,
        roc_cell,
        make_figures,
        metric,
        goal,
        contrasts,
        calibrated,
    ).markdown
