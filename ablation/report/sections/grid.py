"""Full grid: every cell of the full factorial with its metrics over seeds."""

from __future__ import annotations

import math

import pandas as pd

from ablation.report.render import Document, Heading, Para, Table
from ablation.report.sections.common import Context, fmt_ci, num, ranked, short
from ablation.report.stats import FAILED_TO_TRAIN_RULE, INTERVAL_SENTENCE, interval, robust_centre
from ablation.tracking.schema import seed_added

GRID_METRICS = (
    ("train_acc", "train acc (%)", 2, 100.0),
    ("test_acc", "test acc (%)", 2, 100.0),
    ("train_loss", "train loss", 4, math.inf),
    ("test_loss", "test loss", 4, math.inf),
)


def _summary(values, digits: int, hi_bound: float = 100.0, lo_bound: float = 0.0) -> str:
    """fmt_ci of a cell's seed values: mean [clipped interval], or the values below 3 seeds."""
    v = [float(x) for x in values if x == x]
    mean, lo, hi, _ = interval(v, lo_bound=lo_bound, hi_bound=hi_bound)
    return fmt_ci(mean, lo, hi, digits, v)


def _columns(ctx: Context) -> list[tuple]:
    """The grid's metric columns: the usual four (those logged) and each compared metric."""
    have = [g for g in GRID_METRICS if g[0] in ctx.fin and ctx.fin[g[0]].notna().any()]
    cols = {g[0] for g in have}
    for m in ctx.metrics:
        if m.column not in cols:
            digits = 2 if m.is_accuracy else 4
            have.append((m.column, m.label, digits, m.bounds[1], m.bounds[0]))
    return have


def section(doc: Document, ctx: Context) -> None:
    doc.add(Heading("Full grid"))
    flagged = ctx.flagged
    fin = ctx.fin.sort_values("seed") if not ctx.fin.empty else ctx.fin
    by_cell = dict(tuple(fin.groupby("cell", sort=False))) if not fin.empty else {}
    rows = []
    for _, c in ctx.cells.iterrows():
        row = {f: c[f] for f in ctx.vary}
        row["cell"] = c["cell"]
        row["status"] = c["status_text"]
        row["n seeds"] = str(c["n_seeds"])
        reasons = by_cell[c["cell"]]["seed_reason"] if c["cell"] in by_cell else []
        auto = sum(map(seed_added, reasons))
        if auto:
            row["n seeds"] += f" (seeds=auto added {auto})"
        g = by_cell.get(c["cell"], fin.iloc[:0])
        for col, label, d, hi_bound, *lo in _columns(ctx):
            lo_bound = lo[0] if lo else 0.0
            row[label] = _summary(g[col], d, hi_bound, lo_bound) if len(g) else "—"
            if col == "test_acc":
                row["test median (%)"] = num(robust_centre(g[col]), 2) if len(g) else "—"
                bad = flagged[flagged["cell"] == c["cell"]]
                row["failed to train"] = ", ".join(f"seed {s}" for s in bad["seed"]) or "—"
                kept = g[~g["run_id"].isin(bad["run_id"])]
                row["test acc w/o failed (%)"] = _summary(kept[col], d) if len(bad) else "—"
        row["fit time (s)"] = num(c["fit_s_mean"], 1)
        rows.append(row)
    doc.add(
        Table(
            pd.DataFrame(rows),
            f"Every cell of the full factorial of the observed factor levels, over finished "
            f"seeds. {INTERVAL_SENTENCE} Losses: the same interval, clipped at 0; other "
            f"metrics as logged. Median: the middle seed. {FAILED_TO_TRAIN_RULE} 'w/o failed' "
            "= the cell without those seeds. 'missing' = never run; 'FAILED' = no finished "
            "run, with the logged reason. 'seeds=auto added k': k seeds were added after "
            "looking at the first ones (tag ablation.seed_reason).",
        )
    )
    best_worst(doc, ctx)
    missing = int((ctx.cells["status"] == "missing").sum())
    if missing:
        doc.add(Para(f"{missing} cell(s) of the full factorial have no run at all.", "note"))


def best_worst(doc: Document, ctx: Context) -> None:
    """The best and worst cell by the report's metric, in its goal's direction (raw cell
    means: which cell, not by how much a factor matters; the effects say that)."""
    got = ranked(ctx)
    if got is None:
        return
    best, worst, by = got
    col = "val_acc" if by == "validation accuracy" else ctx.metric.column
    m = ctx.metric

    def mean(row) -> str:
        v = row[f"{col}_mean"]
        return f"{m.fmt(v)}{' %' if m.is_accuracy or col == 'val_acc' else ''}"

    better = "higher" if by == "validation accuracy" else m.better
    text = f"Best cell by {by} ({better} is better): {short(ctx, best)} (mean {mean(best)})"
    if worst["cell"] != best["cell"]:
        text += f"; worst: {short(ctx, worst)} (mean {mean(worst)})"
    doc.add(Para(text + ". Means over the cell's finished seeds."))
