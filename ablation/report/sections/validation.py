"""Validation metrics beside test, when the study held out a validation split, and
whether every seed trained stably (the protocol's rule, ``report/stability.py``)."""

from __future__ import annotations

import pandas as pd

from ablation.report.render import Document, Heading, Table
from ablation.report.sections.common import Context
from ablation.report.stability import STABLE_RISE, loss_rise


def section(doc: Document, ctx: Context) -> None:
    fin, hist = ctx.fin, ctx.hist
    if fin.empty or "val_acc" not in fin or fin["val_acc"].isna().all():
        return
    doc.add(Heading("Validation (what the choice was made on) and test"))
    rise = pd.Series(dtype=float)
    if hist is not None and not hist.empty and (hist["key"] == "val/loss").any():
        rise = loss_rise(hist[hist["key"] == "val/loss"])
    rows = []
    for _, g in fin.groupby("cell", sort=False):
        row = {f: g[f].iloc[0] for f in ctx.vary if f in g}
        row["n seeds"] = str(len(g))
        for col, label, d in (
            ("val_acc", "val acc (%)", 2),
            ("val_loss", "val loss", 4),
            ("test_acc", "test acc (%)", 2),
            ("test_loss", "test loss", 4),
        ):
            v = g[col].dropna()
            row[label] = (
                "—"
                if v.empty
                else f"{v.mean():.{d}f}"
                + (f" [{v.min():.{d}f}–{v.max():.{d}f}]" if len(v) > 1 else "")
            )
        if not rise.empty:
            worst = rise.reindex(g["run_id"]).max()
            known = worst == worst  # NaN: too few steps logged
            row["val-loss rise, last half (worst seed)"] = f"{worst:.2f}x" if known else "—"
            row["stable"] = ("yes" if worst <= STABLE_RISE else "no") if known else "—"
        row["_val"] = g["val_acc"].mean()
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("_val", ascending=False, kind="stable")
    frame.insert(0, "rank by val", range(1, len(frame) + 1))
    frame = frame.drop(columns="_val")
    doc.add(
        Table(
            frame,
            "Final metrics per cell, mean [min–max] over seeds, ordered by validation "
            "accuracy: a choice made on this study uses the validation columns; test is "
            "shown beside them only to report the chosen cell."
            + (
                f" Stable = in the last half of training no seed's validation loss rose above "
                f"{STABLE_RISE:g}x its running minimum (the lowest value logged before); the "
                "rise column is the largest such ratio over the cell's seeds."
                if not rise.empty
                else ""
            ),
        )
    )
