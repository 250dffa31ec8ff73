"""Runs that did not finish, then finished seeds that failed to train."""

from __future__ import annotations

import pandas as pd

from ablation.report.render import Document, Heading, Table
from ablation.report.sections.common import Context
from ablation.report.seed_sections import failed_to_train_table


def section(doc: Document, ctx: Context) -> None:
    bad = ctx.runs[ctx.runs["status"] != "FINISHED"]
    if not bad.empty:
        doc.add(Heading("Runs that did not finish"))
        frame = pd.DataFrame(
            {
                "cell": bad["cell"],
                "seed": bad["seed"].map(lambda s: "?" if s is None or s != s else str(int(s))),
                "status": bad["status"],
                "reason": bad["failure"].map(lambda r: r or "no reason logged"),
                "run id": bad["run_id"],
            }
        )
        doc.add(
            Table(
                frame,
                "Only configurations without any FINISHED run are listed; see the "
                "run's error.txt artifact for the traceback.",
            )
        )
    failed_to_train_table(doc, ctx)
