"""Effects: one model of the design per compared metric, its overview sentences (each from
a contrast or an estimated marginal mean), the term tests and the marginal means."""

from __future__ import annotations

import pandas as pd

from ablation.report.render import Bullets, Document, Heading, Para, Table
from ablation.report.sections.common import Context
from ablation.report.stats.effects import COV_SENTENCE
from ablation.report.stats.sentences import p_text


def heading(metric) -> str:
    what = "final test accuracy" if metric.key == "test/acc" else metric.key
    return f"Effects (model of the design, {what})"


def _terms(doc: Document, fx) -> None:
    tests = fx.model.term_tests()
    if tests.empty or not fx.model.testable:
        return
    shown = pd.DataFrame(
        {
            "term": tests["term"],
            "df": tests["df"].map(str),
            "F": tests["F"].map(lambda v: f"{v:.2f}"),
            "p": tests["p"].map(lambda v: p_text(v, "").strip().removeprefix("= ")),
        }
    )
    doc.add(
        Table(
            shown,
            "Wald F-test of each term of the model (residual df = "
            f"{fx.model.df_resid}): a main effect is tested averaged over the balanced grid of "
            f"the other factors; {COV_SENTENCE[fx.model.cov_type]}; p not corrected for the "
            "number of terms; the contrasts below say by how much and where.",
        )
    )


def _emms(doc: Document, fx) -> None:
    from ablation.report.stats.effects import emm_table

    m = fx.metric
    t = emm_table(fx.model)
    if t.empty:
        return
    shown = pd.DataFrame(
        {
            "factor": t["factor"],
            "level": t["level"],
            "within": [
                f"{b}={lv}" if b else "—" for b, lv in zip(t["by"], t["by_level"], strict=True)
            ],
            f"marginal mean {m.label} [95%]": [
                f"{m.fmt(e)} [{m.fmt(lo)}, {m.fmt(hi)}]" if lo == lo else m.fmt(e)
                for e, lo, hi in zip(t["emm"], t["lo"], t["hi"], strict=True)
            ],
            "runs": t["n"].map(str),
        }
    )
    doc.add(
        Heading("Estimated marginal means", 3),
        Table(
            shown,
            "Estimated marginal means of the model: each level's mean over a balanced grid of "
            "the other factors' observed levels (every cell weighted equally, whatever its "
            "seeds; cells that were never run are predicted by the model), with a per-mean "
            "95% t-interval; "
            "'within' rows are the interaction's simple means.",
        ),
    )


def one(doc: Document, ctx: Context, fx) -> None:
    doc.add(Heading(heading(fx.metric)))
    if fx.model is None:
        doc.add(Para("No factor varies across finished runs, so there is nothing to compare."))
        return
    doc.add(Para(fx.method))
    if fx.sentences:
        doc.add(Bullets(fx.sentences))
    if fx.resolution:
        doc.add(Para(fx.resolution, "note"))
    if fx.sensitivity:
        doc.add(Para(fx.sensitivity, "note"))
    if fx.model.notes:
        doc.add(Para("Model: " + "; ".join(fx.model.notes) + ".", "note"))
    _terms(doc, fx)
    _emms(doc, fx)


def section(doc: Document, ctx: Context) -> None:
    for m in ctx.metrics:
        one(doc, ctx, ctx.effects[m.key])
