"""Provenance: the code versions and data checksums behind the runs, and the files beside
the report that let a reader recheck every number."""

from __future__ import annotations

from ablation.report.render import Bullets, Document, Heading
from ablation.report.sections.common import Context


def section(doc: Document, ctx: Context) -> None:
    commits = sorted({c for c in ctx.runs["git_commit"] if c})
    sums = sorted({c for c in ctx.runs["data_checksum"] if c})
    items = [
        f"git commit(s): {', '.join(commits) or 'not logged'}",
        f"data checksum(s): {', '.join(sums) or 'not logged'}",
    ]
    if len(commits) > 1:
        items.append("More than one code version produced these runs.")
    items.append(
        "Beside this report: runs.csv (one row per run kept), effects.csv (one row per "
        "contrast or marginal effect, with its family, Holm p and P(better)) and summary.csv "
        "(one row per cell, the numbers of the grid above)."
    )
    doc.add(Heading("Provenance"), Bullets(items))
