"""The effects overview in plain sentences, each from one contrast or EMM of the model.

``metric`` is duck-typed (``ablation.report.metrics.Metric``): ``what``, ``goal``,
``fmt(x, sign)``, ``points(x, sign)``. "Not significant" is never written as "no effect":
a contrast that is not resolved says which sizes its interval leaves open.
"""

from __future__ import annotations

import math

import pandas as pd

from ablation.report.stats.effects import COV_SENTENCE, EffectModel, term_name

ALPHA = 0.05


def p_text(p: float, name: str = "Holm p") -> str:
    if p != p:
        return f"{name} n/a"
    return f"{name} < 0.001" if p < 0.001 else f"{name} = {p:.3f}"


def _significant(r) -> bool:
    return r["p_holm"] == r["p_holm"] and r["p_holm"] < ALPHA


def step_down(r) -> str:
    """Holm's step-down can resolve a contrast whose simultaneous (Bonferroni) interval
    still holds 0: say so rather than print a resolved effect with an interval across 0."""
    if r["lo"] <= 0 <= r["hi"]:
        return "; resolved by Holm's step-down, while the simultaneous interval still holds 0"
    return ""


def _better(metric, est: float) -> str:
    return "better" if (est > 0) == (metric.goal == "max") else "worse"


def _interval(metric, r) -> str:
    if r["lo"] != r["lo"]:
        return ""
    return f" [{metric.fmt(r['lo'], True)}, {metric.fmt(r['hi'], True)}]"


def _where(r) -> str:
    return f" at {r['within']}" if r["within"] else ""


def effect_sentence(r, metric, assumed: str = "") -> str:
    """One contrast row of ``families.effects_table`` as a sentence."""
    f, b, a = r["factor"], r["level"], r["baseline"]
    est = r["estimate"]
    stat = f"{p_text(r['p_holm'])}, {r['family']}"
    if r["lo"] != r["lo"]:
        return (
            f"{f}={b} vs {f}={a}{_where(r)}: {metric.points(est, True)} (a point estimate; with "
            "no residual degrees of freedom no difference is resolved)."
        )
    if _significant(r):
        verb = "raises" if est > 0 else "lowers"
        return (
            f"{f}={b} {verb} {metric.what} by {metric.points(abs(est))}{_interval(metric, r)} "
            f"vs {f}={a}{_where(r)} ({_better(metric, est)}; {stat}{step_down(r)}{assumed})."
        )
    return (
        f"{f}={b} vs {f}={a}{_where(r)}: {metric.points(est, True)}{_interval(metric, r)}, not "
        f"resolved ({stat}{assumed}); effects below {metric.fmt(r['lo'], True)} or above "
        f"{metric.fmt(r['hi'], True)} are ruled out, those in between (0 included) are not."
    )


def _flip_sentence(metric, f, g, rows: pd.DataFrame) -> str | None:
    """'The effect of c flips sign with d: ...' when the simple effects of one pair of
    levels of ``f`` have opposite signs across ``g`` and all are resolved ('changes with'
    when only some are: an unresolved one may be 0)."""
    resolved = rows.apply(_significant, axis=1) if not rows.empty else pd.Series(dtype=bool)
    if not resolved.any():
        return None
    signs = set((rows["estimate"] > 0).tolist())
    if len(signs) < 2:
        return None
    a, b = rows["baseline"].iloc[0], rows["level"].iloc[0]
    parts = [
        f"{metric.points(r['estimate'], True)}{_interval(metric, r)} at {r['within']} "
        f"({p_text(r['p_holm'])}{'' if ok else ', not resolved'})"
        for (_, r), ok in zip(rows.iterrows(), resolved, strict=True)
    ]
    # opposite signs, but a side that is not resolved may be 0: no reversal is claimed then
    verb = "flips sign with" if resolved.all() else "changes with"
    return (
        f"The effect of {f} {verb} {g}: {f}={b} vs {f}={a} is "
        + ", but ".join(parts)
        + f" (simple effects of the model, {rows['family'].iloc[0]}); its average over {g} "
        "hides this."
    )


def _depends_sentence(metric, f, g, rows: pd.DataFrame, p: float) -> str:
    a, b = rows["baseline"].iloc[0], rows["level"].iloc[0]
    parts = [
        f"{metric.points(r['estimate'], True)}{_interval(metric, r)} at {r['within']}"
        for _, r in rows.iterrows()
    ]
    return (
        f"The effect of {f} depends on {g} ({p_text(p, 'interaction p')}): {f}={b} vs "
        f"{f}={a} is " + ", ".join(parts) + " (simple effects of the model)."
    )


def _pair_rows(table: pd.DataFrame, f: str, b, base, g: str) -> pd.DataFrame:
    """The simple effects of ``f=b`` vs ``f=base`` within each level of ``g``, whichever way
    the table holds them (a declared 'depth: 1 vs 2' is the only row of 2 vs 1): rows held
    the other way round are turned, estimate and interval negated."""
    simple = table[
        (table["kind"] == "simple")
        & (table["factor"] == f)
        & table["within_d"].map(lambda w: list(w) == [g])
    ]
    ahead = simple[(simple["level"] == b) & (simple["baseline"] == base)]
    back = simple[(simple["level"] == base) & (simple["baseline"] == b)].copy()
    if not back.empty:
        back["estimate"] = -back["estimate"]
        back["lo"], back["hi"] = -back["hi"], -back["lo"]
        back["level"], back["baseline"] = b, base
    both = pd.concat([ahead, back[~back["within"].isin(ahead["within"])]])
    return both.sort_index()  # the table's order: the levels of g in their own order


def overview(model: EffectModel, table: pd.DataFrame, metric) -> list[str]:
    """The overview: sign flips and interactions first, then each factor's marginal effect
    of every level against the first (baseline) level."""
    out: list[str] = []
    if table.empty:
        return out
    tests = model.term_tests().set_index("term")
    for f in model.factors:
        base = model.levels[f][0]
        flipped: dict = {}  # level -> the factors its effect flips sign with
        for g in model.interacting(f):
            term = term_name(tuple(x for x in model.factors if x in (f, g)))
            p = float(tests.loc[term, "p"]) if term in tests.index else math.nan
            for b in model.levels[f][1:]:
                rows = _pair_rows(table, f, b, base, g)
                flip = _flip_sentence(metric, f, g, rows)
                if flip:
                    out.append(flip)
                    flipped.setdefault(b, []).append(g)
                elif len(rows) and p == p and p < ALPHA:
                    out.append(_depends_sentence(metric, f, g, rows, p))
        for b in model.levels[f][1:]:
            rows = table[
                (table["kind"] == "marginal")
                & (table["factor"] == f)
                & (table["level"] == b)
                & (table["baseline"] == base)
            ]
            hides = (
                f"; an average over {' and '.join(flipped[b])}, whose simple effects differ in "
                "sign (above)"
                if b in flipped
                else ""
            )
            for _, r in rows.iterrows():
                out.append(effect_sentence(r, metric, _assumed(model, f) + hides))
    return out


def _assumed(model: EffectModel, f: str) -> str:
    gone = [t for t in model.unidentified if f in t]
    if not gone:
        return ""
    return (
        "; assuming no "
        + " or ".join(map(term_name, gone))
        + " interaction, which the cells run cannot identify"
    )


def method_sentence(model: EffectModel, metric) -> str:
    """How the effects were obtained, in one plain sentence."""
    terms = ", ".join(map(term_name, model.terms)) or "none"
    return (
        f"Effects on {metric.what} come from an OLS model of the design over {len(model.data)} "
        f"runs with the terms {terms} (every interaction the cells identify; residual df = "
        f"{model.df_resid}): marginal means weight every cell of the balanced grid of observed "
        f"levels equally, whatever its seeds; {COV_SENTENCE[model.cov_type]}; "
        f"{'higher' if metric.goal == 'max' else 'lower'} is better (goal {metric.goal})."
    )


def resolution(model: EffectModel, table: pd.DataFrame, metric) -> str | None:
    """For one-seed grids: the size below which differences are not resolved."""
    if not model.one_seed:
        return None
    marg = table[table["kind"] == "marginal"]
    half = ((marg["hi"] - marg["lo"]) / 2).dropna()
    if half.empty:
        return (
            "Each cell has a single seed and the model leaves no residual degrees of freedom: "
            "no difference between levels is resolved."
        )
    return (
        "Each cell has a single seed, so the spread over seeds is not measured (the error term "
        f"is the variation the model leaves out): differences below {metric.points(half.max())} "
        "(the widest half-interval of a marginal contrast here) are not resolved."
    )
