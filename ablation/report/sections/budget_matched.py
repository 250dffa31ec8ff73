"""The paper's accuracy found on our learning curves (``budget.budget_table``)."""

from __future__ import annotations

import math

import pandas as pd

from ablation.report.render import Document, Heading, Table
from ablation.report.sections.common import Context, num


def _epoch(epoch: float, updates: float) -> str:
    if epoch is None or math.isnan(epoch):
        return "not reached"
    if updates is None or math.isnan(updates) or updates == epoch:
        return f"{epoch:g}"
    return f"{epoch:g} ({updates:g} updates)"


def section(doc: Document, ctx: Context) -> None:
    table = ctx.budget
    if table is None or table.empty:  # no paper row was run here (or no history): nothing
        return
    doc.add(Heading("Paper's accuracy on our learning curves (budget-matched)"))
    rows = []
    for _, r in table.iterrows():
        if r["seeds_reached"]:
            spread = f"{r['seed_median']:g} [{r['seed_min']:g}–{r['seed_max']:g}]"
        else:
            spread = "—"
        rows.append(
            {
                "paper row": r["paper_row"],
                "paper test (%)": f"{r['paper_test']:g}",
                "our cell": r["cell"],
                "our mean first reaches it at epoch (updates)": _epoch(
                    r["mean_epoch"], r["mean_updates"]
                ),
                "logged every (epochs)": num(r["logged_every"], 0),
                "per seed: median [range] epoch": spread,
                "seeds reaching it": f"{r['seeds_reached']} of {r['n_seeds']}",
                "ours at the end (%)": f"{num(r['ours_final'])} (epoch {r['final_epoch']:g})",
            }
        )
    doc.add(
        Table(
            pd.DataFrame(rows),
            "The first logged evaluation at which our test accuracy, averaged over seeds, is at "
            "or above the paper's test accuracy for the row, so the budget at which our "
            "training matches the paper's number; epochs are passes over the training set (a "
            "full-batch step is one epoch and one update; a minibatch epoch's updates are in "
            "brackets). Per seed: median and range of the first-reaching epochs of the seeds "
            "that reach it. Resolution: the logging interval. The paper's accuracies are drawn "
            "as dashed lines on the learning curves.",
        )
    )
