"""What every section shares: the ``Context`` it reads and small formatting helpers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ablation.config.identity import MLP_TASK, MLP_TASKS
from ablation.report.reference import Reference
from ablation.report.render import Document, Image, Table


@dataclass
class Context:
    """Everything a section may read; sections add blocks to the document, nothing else."""

    experiment: str
    uri: str
    parent: str | None
    filter_string: str | None
    ref: Reference | None
    raw: pd.DataFrame  # every child run fetched
    runs: pd.DataFrame  # newest run per config hash, with factor columns and 'cell'
    fin: pd.DataFrame  # the FINISHED ones
    factors: list[str]
    vary: list[str]
    cells: pd.DataFrame
    comp: pd.DataFrame | None
    fig_dir: Path
    sort_key: Callable
    #: ``task._target_`` when the runs are of a user's task (None: the built-in MLP)
    task: str | None = None
    metrics: list = field(default_factory=list)  # ablation.report.metrics.Metric, first = primary
    effects: dict = field(default_factory=dict)  # metric key -> analysis.Effects
    flagged: pd.DataFrame | None = None  # seeds that failed to train (seed_sections.failed_seeds)
    declared: list[str] = field(default_factory=list)  # the confirmatory contrasts
    hist: pd.DataFrame | None = None  # metric histories of the finished runs
    budget: pd.DataFrame | None = None  # the budget-matched table (paper studies)
    make_figures: bool = True
    client: Any = None
    roc_row: pd.Series | None = None
    figures: list[Path] = field(default_factory=list)  # figures the sections made

    @property
    def metric(self):
        return self.metrics[0]


def user_task(runs: pd.DataFrame) -> str | None:
    """The ``task._target_`` of runs of a user's task; None for the built-in MLP's runs
    (whose ``task`` node is not logged). The paper's parts of the report need MLP runs."""
    targets = {str(p.get("task._target_", MLP_TASK)) for p in runs["params"] if isinstance(p, dict)}
    targets -= set(MLP_TASKS)
    return ", ".join(sorted(targets)) or None


def fmt_ci(mean: float, lo: float, hi: float, digits: int = 2, values=None) -> str:
    """'80.12 [79.60, 80.64]' (mean [95% interval]); without an interval the seeds' values
    ('86.10, 87.80 (n=2)') when ``values`` are given, else the mean; '—' if there is none."""
    if mean is None or math.isnan(mean):
        return "—"
    if lo is None or math.isnan(lo):
        if values is not None and len(values) > 1:
            return ", ".join(f"{v:.{digits}f}" for v in values) + f" (n={len(values)})"
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def num(x: float, digits: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def image(doc: Document, ctx: Context, path: Path, caption: str) -> None:
    doc.add(Image(path=path, caption=caption, rel=f"figures/{path.name}"))
    ctx.figures.append(path)


def display_uri(uri: str, cwd: Path | None = None) -> str:
    """A local store's URI relative to ``cwd`` when the store lies under it, else as given.

    ``sqlite:////home/me/study/mlruns/mlflow.db`` run from ``/home/me/study`` becomes
    ``sqlite:///mlruns/mlflow.db``: a published report names no path of the machine.
    """
    for prefix in ("sqlite:///", "file://", ""):
        if uri.startswith(prefix) and (prefix or "://" not in uri):
            path = Path(uri[len(prefix) :])
            break
    else:
        return uri
    if not path.is_absolute():
        return uri
    try:
        rel = path.resolve().relative_to((cwd or Path.cwd()).resolve())
    except ValueError:
        return uri
    return f"{'sqlite:///' if prefix == 'sqlite:///' else ''}{rel.as_posix()}"


def distinct(ctx: Context, key: str) -> str:
    values = ctx.fin["params"].map(lambda p: p.get(key)).dropna()
    if values.empty:
        return ""
    counts = values.value_counts()
    return "; ".join(f"{v} ({n} runs)" for v, n in counts.items())


def settings_table(doc: Document, ctx: Context, keys, caption: str) -> None:
    """One row per setting the finished runs logged: its values and how many runs had each."""
    rows = [(k, v) for k in keys if (v := distinct(ctx, k))]
    if rows:
        doc.add(Table(pd.DataFrame(rows, columns=["param", "values (finished runs)"]), caption))


def short(ctx: Context, row) -> str:
    """A cell named by the factors that vary in this report only."""
    named = [f"{f}={row[f]}" for f in ctx.vary if f in row and ctx.cells[f].nunique() > 1]
    return ", ".join(named) or str(row["cell"])


def ranked(ctx: Context) -> tuple[pd.Series, pd.Series, str] | None:
    """(best, worst, by what) among cells with finished runs: by validation accuracy when
    every such cell has one and the metric is test accuracy, else by the report's metric
    in its goal's direction."""
    done = ctx.cells[ctx.cells["n_seeds"] > 0]
    if done.empty:
        return None
    m = ctx.metric
    if m.key == "test/acc" and done["val_acc_mean"].notna().all():
        key, by, goal = "val_acc_mean", "validation accuracy", "max"
    else:
        key, by, goal = f"{m.column}_mean", m.what, m.goal
    values = done[key].astype(float)
    if values.isna().all():
        return None
    best, worst = (
        (values.idxmax(), values.idxmin()) if goal == "max" else (values.idxmin(), values.idxmax())
    )
    return done.loc[best], done.loc[worst], by
