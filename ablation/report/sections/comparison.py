"""Paper vs. reproduction: the paper's rows beside our cells, with a verdict each."""

from __future__ import annotations

import pandas as pd

from ablation.report import figures as figs
from ablation.report.compare import display_names
from ablation.report.render import Bullets, Document, Heading, Table
from ablation.report.sections.common import Context, fmt_ci, image, num
from ablation.report.stats import INTERVAL_SENTENCE, VERDICT_RULE

AUTO_NOTE = (
    "Cells marked 'seeds=auto' got seeds added after their first results were looked at "
    "(tag ablation.seed_reason), so their interval is not a fixed-sample one."
)


CALIBRATION_NOTE = (
    "calibration row: a setting of this study was read off this row, so its agreement with "
    "the paper is expected, not evidence"
)


def verdict(r) -> str:
    """The row's verdict, marked when the row is a calibration row."""
    return f"{r['verdict']} (calibration row)" if r.get("calibrated", False) else r["verdict"]


def train_sentence(comp: pd.DataFrame) -> str | None:
    """One sentence on train accuracy: the rows whose paper number lies outside our interval
    (with by how much our mean differs), and how many lie inside; None without intervals."""
    comp = comp.assign(name=display_names(comp))
    have = comp[comp["ours_train_lo"].notna() & comp["paper_train"].notna()]
    if have.empty:
        return None
    outside = have[
        (have["paper_train"] < have["ours_train_lo"])
        | (have["paper_train"] > have["ours_train_hi"])
    ]
    parts = [
        f"{r['name']}: the paper's {r['paper_train']:g} lies outside our 95% interval "
        f"[{r['ours_train_lo']:.2f}, {r['ours_train_hi']:.2f}] (our mean "
        f"{r['ours_train']:.2f} is {abs(r['ours_train'] - r['paper_train']):.2f} points "
        f"{'higher' if r['ours_train'] > r['paper_train'] else 'lower'})"
        for _, r in outside.iterrows()
    ]
    inside = len(have) - len(outside)
    head = (
        f"Train accuracy: the paper's number lies inside our interval for {inside} of "
        f"{len(have)} rows"
    )
    return (
        head
        + ("; " + "; ".join(parts) if parts else "")
        + (". Train accuracy is measured on each side's own training images.")
    )


def _ours(r, side: str) -> str:
    """Our mean [interval] in a comparison row, or the seeds' values below 3 seeds."""
    o = f"ours_{side}"
    text = fmt_ci(r[o], r[f"{o}_lo"], r[f"{o}_hi"], 2, r[f"{o}_values"])
    if side == "test" and r.get("auto_seeds", 0):
        text += f" (seeds=auto added {r['auto_seeds']})"
    return text


def section(doc: Document, ctx: Context) -> None:
    """Paper rows beside our cells; rows this study did not run are named in one line.

    A study that runs none of the paper's cells (e.g. an optimiser or protocol study)
    gets no section at all, not a table of empty rows.
    """
    if ctx.comp is None:
        return
    ran = ctx.comp["verdict"] != "not run"
    if not ran.any():
        return
    comp = ctx.comp[ran]
    doc.add(Heading("Paper vs. reproduction"))
    rows = []
    for _, r in comp.iterrows():
        rows.append(
            {
                "paper row": r["label"],
                "our cell": r["cell"] or r["factors"],
                "paper train (%)": f"{r['paper_train']:g}",
                "ours train (%)": _ours(r, "train"),
                "paper test (%)": f"{r['paper_test']:g}",
                "ours test (%)": _ours(r, "test"),
                "ours test median (%)": num(r["ours_test_median"], 2),
                "n seeds": str(r["n"]),
                "Δ test (points)": num(r["delta_test"], 2, sign=True),
                "verdict": verdict(r),
            }
        )
    auto = AUTO_NOTE + " " if comp.get("auto_seeds", pd.Series(dtype=int)).fillna(0).any() else ""
    doc.add(
        Table(
            pd.DataFrame(rows),
            f"{INTERVAL_SENTENCE} Median: the middle seed, which one failed seed cannot move. "
            f"Δ = our mean − paper (test). {VERDICT_RULE} {auto}".strip(),
        )
    )
    notes = list(
        dict.fromkeys(f"{r['label']}: {r['note']}" for _, r in comp.iterrows() if r["note"])
    )
    notes += [
        f"{r['label']}: {CALIBRATION_NOTE}."
        for _, r in comp.iterrows()
        if verdict(r) != r["verdict"]
    ]
    train = train_sentence(comp)
    if train:
        notes.append(train)
    not_run = list(ctx.comp.loc[~ran, "label"])
    if not_run:
        notes.append("Paper rows not run in this study: " + "; ".join(not_run) + ".")
    if notes:
        doc.add(Bullets(notes))
    if ctx.make_figures and comp["ours_test"].notna().any():
        p = figs.paper_vs_ours(ctx.comp, ctx.fig_dir / "paper_vs_ours.png")
        image(
            doc,
            ctx,
            p,
            "Test accuracy: paper (x) vs. ours (dot = mean over seeds; bar = 95% t-interval "
            "clipped to [0, 100], drawn only with at least 3 seeds; paper rows not run here "
            "are named under the axes"
            + (
                "; a calibration row is labelled so and drawn hollow"
                if comp["calibrated"].any()
                else ""
            )
            + ").",
        )
