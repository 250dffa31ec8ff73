"""Report parts that look at seeds one by one: seeds that failed to train and where the
spread over seeds comes from (data subset vs. initialisation).

Called from ``sections`` (grid, contrasts, failures); everything statistical lives in
``ablation.report.stats``.
"""

from __future__ import annotations

import pandas as pd

from ablation.report.render import Document, Heading, Para, Table
from ablation.report.stats import (
    FAILED_TO_TRAIN_RULE,
    VARIANCE_SENTENCE,
    failed_to_train,
    variance_components,
)

LEARNING_CURVES = "learning_curves.png"


def _seed(s) -> str:
    return "?" if s is None or s != s else str(int(s))


def failed_seeds(fin: pd.DataFrame) -> pd.DataFrame:
    """The finished runs the stated rule flags, one row each: cell, seed, test_acc,
    cell_median, run_id (cells in their order in ``fin``, seeds ascending)."""
    rows = []
    for cell, g in fin.dropna(subset=["test_acc"]).groupby("cell", sort=False):
        g = g.sort_values("seed")
        flags = failed_to_train(g["test_acc"])
        median = float(g["test_acc"].median())
        for _, r in g[flags].iterrows():
            rows.append(
                {
                    "cell": cell,
                    "seed": _seed(r["seed"]),
                    "test_acc": float(r["test_acc"]),
                    "cell_median": median,
                    "run_id": r["run_id"],
                }
            )
    return pd.DataFrame(rows, columns=["cell", "seed", "test_acc", "cell_median", "run_id"])


def failed_to_train_table(doc: Document, ctx) -> None:
    """A table of the flagged seeds with their run ids and the learning-curve figure."""
    bad = failed_seeds(ctx.fin)
    if bad.empty:
        return
    curves = ctx.fig_dir / LEARNING_CURVES
    link = f"figures/{LEARNING_CURVES}" if curves.exists() else "—"
    doc.add(Heading("Seeds that failed to train"))
    frame = pd.DataFrame(
        {
            "cell": bad["cell"],
            "seed": bad["seed"],
            "test acc (%)": bad["test_acc"].map(lambda v: f"{v:.2f}"),
            "cell median (%)": bad["cell_median"].map(lambda v: f"{v:.2f}"),
            "run id": bad["run_id"],
            "learning curves": link,
        }
    )
    doc.add(
        Table(
            frame,
            f"{FAILED_TO_TRAIN_RULE} These runs finished: the full grid shows their cells "
            "with and without them, the paper comparison and the contrasts keep them.",
        )
    )


def variance_section(doc: Document, ctx) -> None:
    """Data-subset vs. init shares, when the runs vary ``data_seed`` apart from ``seed``."""
    fin = ctx.fin
    if fin.empty or "params" not in fin:
        return
    data_seed = fin["params"].map(lambda p: p.get("data_seed"))
    if data_seed.isna().all() or data_seed.astype(str).eq(fin["seed"].astype(str)).all():
        return
    runs = fin.assign(data_seed=data_seed.fillna(fin["seed"]))
    try:
        shares = variance_components(runs, by=[f for f in ctx.vary if f in runs])
    except ValueError as exc:
        doc.add(Para(f"No variance decomposition: {exc}.", "note"))
        return
    doc.add(Heading("Where the spread over seeds comes from", 3))
    doc.add(Para(shares.sentence()), Para(VARIANCE_SENTENCE, "note"))
