"""Contrasts between factor levels: every contrast of the model with its family, Holm p,
simultaneous interval and P(better), one sentence each; then where the seeds' spread
comes from."""

from __future__ import annotations

import pandas as pd

from ablation.report.render import Bullets, Document, Heading, Para, Table
from ablation.report.seed_sections import variance_section
from ablation.report.stats.families import FAMILY_SENTENCE, MIN_SEEDS_P_BETTER, P_BETTER_SENTENCE
from ablation.report.stats.sentences import ALPHA, p_text, step_down

KINDS = {"marginal": "averaged", "simple": "", "cell": ""}


def _p_better(r) -> str:
    if r["p_better"] != r["p_better"]:
        return f"— (< {MIN_SEEDS_P_BETTER} seeds)"
    return f"{r['p_better']:.2f} [{r['p_better_lo']:.2f}, {r['p_better_hi']:.2f}]"


def sentence(r, m) -> str:
    """'init=kaiming beats init=random at reg=l2 by 2.40 points [1.90, 2.90], ...'."""
    f, a, b = r["factor"], r["baseline"], r["level"]
    where = f" at {r['within']}" if r["within"] else " (averaged over the other factors)"
    stats = f"{p_text(r['p_holm'])} ({r['family']})"
    if r["p_better"] == r["p_better"]:
        stats = f"P({b} better) = {_p_better(r)}, " + stats
    if r["lo"] != r["lo"]:
        return f"{f}={b} vs {f}={a}{where}: {m.points(r['estimate'], True)}, no test possible."
    if r["p_holm"] == r["p_holm"] and r["p_holm"] < ALPHA:
        est, lo, hi = r["estimate"], r["lo"], r["hi"]
        win, lose = (b, a) if (est > 0) == (m.goal == "max") else (a, b)
        if est < 0:  # the size of the difference, with its interval
            est, lo, hi = -est, -hi, -lo
        return (
            f"{f}={win} beats {f}={lose}{where} by {m.points(est)} "
            f"[{m.fmt(lo)}, {m.fmt(hi)}] in {m.key} "
            f"({'higher' if m.goal == 'max' else 'lower'} is better), {stats}{step_down(r)}."
        )
    return (
        f"{f}={b} vs {f}={a}{where}: {m.points(r['estimate'], True)} "
        f"[{m.fmt(r['lo'], True)}, {m.fmt(r['hi'], True)}], not resolved, {stats}; the "
        "interval is what the data leave open."
    )


def one(doc: Document, ctx, fx, first: bool) -> None:
    m = fx.metric
    doc.add(Heading("Contrasts between factor levels" + ("" if first else f" ({m.key})")))
    table = fx.table
    if table is None or table.empty:
        doc.add(Para("No contrast: no factor varies across finished runs."))
        return
    unit = f" ({m.unit})" if m.unit else ""
    shown = pd.DataFrame(
        {
            "factor": table["factor"],
            "B vs A": [
                f"{b} vs {a}" for a, b in zip(table["baseline"], table["level"], strict=True)
            ],
            "at": [w or "— (averaged)" for w in table["within"]],
            "family": table["family"],
            "n (A, B)": [f"{a}, {b}" for a, b in zip(table["n_baseline"], table["n"], strict=True)],
            f"B − A{unit} [simultaneous 95%]": [
                f"{m.fmt(d, True)} [{m.fmt(lo, True)}, {m.fmt(hi, True)}]"
                for d, lo, hi in zip(table["estimate"], table["lo"], table["hi"], strict=True)
            ],
            "P(B better) [95%]": [_p_better(r) for _, r in table.iterrows()],
            "p": table["p"].map(lambda v: p_text(v, "").strip().removeprefix("= ")),
            "Holm p (family)": table["p_holm"].map(
                lambda v: p_text(v, "").strip().removeprefix("= ")
            ),
        }
    )
    declared = (
        f" Declared (confirmatory): {'; '.join(ctx.declared)}."
        if ctx.declared
        else " No contrast was declared (the study's contrasts, or --contrasts), so every "
        "contrast is exploratory."
    )
    doc.add(
        Table(
            shown,
            "Contrasts: for each factor, each pair of its levels from the model of the design "
            "(Effects above): averaged over the other factors, within each level of a factor "
            "it interacts with, and within each full setting of the others (both cells run); "
            f"B − A in the goal's metric ({m.key}, {m.better} is better), p from the "
            f"model's t-test. {FAMILY_SENTENCE} {P_BETTER_SENTENCE} 'beats' only when "
            f"Holm p < 0.05.{declared}",
        )
    )
    doc.add(Bullets([sentence(r, m) for _, r in table.iterrows()]))


def section(doc: Document, ctx) -> None:
    for i, m in enumerate(ctx.metrics):
        one(doc, ctx, ctx.effects[m.key], i == 0)
    variance_section(doc, ctx)
