"""Per class: per-digit recall and precision, the hardest digits (vs. the paper's when the
reference covers this data)."""

from __future__ import annotations

from ablation.report import figures as figs
from ablation.report.per_class import per_class_tables
from ablation.report.render import Document, Heading, Para, Table
from ablation.report.sections.common import Context, image, num


def section(doc: Document, ctx: Context) -> None:
    tables = per_class_tables(ctx.fin, ctx.uri)  # per_class.csv, or old runs' metrics
    if tables is None:
        if not ctx.task:  # the MLP logs them: say they are missing; a user task need not
            doc.add(
                Heading("Per class"),
                Para("No per-class numbers (per_class.csv or test/recall_k) were logged."),
            )
        return
    doc.add(Heading("Per class"))
    recall, precision = tables
    overall = recall.mean(axis=0).sort_values()
    hardest = list(overall.index[:3])
    text = ", ".join(f"{d} ({overall[d]:.1f}%)" for d in hardest)
    line = f"Hardest digits here (lowest mean test recall over cells): {text}."
    if ctx.ref and ctx.ref.hardest_digits:
        paper = [str(d) for d in ctx.ref.hardest_digits]
        common = [d for d in hardest if d in paper]
        line += (
            f" Paper: {', '.join(paper)}; in common: {', '.join(common) or 'none'}. "
            f"{ctx.ref.hardest_digits_note}"
        )
    doc.add(Para(line))
    for name, table in (("recall", recall), ("precision", precision)):
        shown = table.map(lambda v: num(v, 1)).reset_index()
        doc.add(
            Heading(f"Per-digit test {name} (%)", 3),
            Table(shown, "Mean over finished seeds per cell; columns are digits 0–9."),
        )
    if ctx.make_figures:
        p = figs.per_class_heatmap(recall, ctx.fig_dir / "per_class_recall.png")
        image(doc, ctx, p, "Per-digit test recall (%) per cell, mean over seeds.")
