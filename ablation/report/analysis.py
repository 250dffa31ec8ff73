"""The effects of one metric: the model of the design, its contrasts in families, the
overview sentences and the sensitivity refit without the seeds that failed to train."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from ablation.report.stats import effects as fx
from ablation.report.stats.families import effects_table
from ablation.report.stats.sentences import (
    ALPHA,
    effect_sentence,
    method_sentence,
    overview,
    resolution,
)
from ablation.tracking.schema import TAG_CONTRASTS


@dataclass
class Effects:
    """Everything the report says about one metric's effects."""

    metric: object  # ablation.report.metrics.Metric
    model: fx.EffectModel | None
    table: pd.DataFrame
    sentences: list[str] = field(default_factory=list)
    method: str = ""
    resolution: str | None = None
    sensitivity: str | None = None


def analyse(fin: pd.DataFrame, metric, vary, declared, sort_key, flagged: pd.DataFrame) -> Effects:
    """Fit, contrast and describe ``metric`` over the finished runs ``fin``."""
    col = metric.column
    d = fin.dropna(subset=[col]) if col in fin else fin.iloc[:0]
    factors = [f for f in vary if not d.empty and d[f].nunique() > 1]
    if not factors:
        return Effects(metric, None, pd.DataFrame())
    model = fx.fit(d, col, factors, sort_key=sort_key)
    table = effects_table(model, metric.goal, declared)
    out = Effects(metric, model, table, overview(model, table, metric))
    out.method = method_sentence(model, metric)
    out.resolution = resolution(model, table, metric)
    if not flagged.empty and "run_id" in d:
        out.sensitivity = _sensitivity(d, model, table, metric, declared, sort_key, flagged)
    return out


def _key(r) -> tuple:
    return (r["kind"], r["factor"], r["level"], r["baseline"], r["within"])


def _resolved(r) -> bool:
    return r["p_holm"] == r["p_holm"] and r["p_holm"] < ALPHA


def _sensitivity(d, model, table, metric, declared, sort_key, flagged) -> str:
    kept = d[~d["run_id"].isin(flagged["run_id"])]
    which = "; ".join(
        f"{c} seed {s}" for c, s in zip(flagged["cell"], flagged["seed"], strict=True)
    )
    head = (
        f"Sensitivity: refitted without the {len(flagged)} seed(s) that failed to train ({which})"
    )
    factors = [f for f in model.factors if kept[f].nunique() > 1]
    if len(factors) < len(model.factors):
        return head + ": a factor no longer varies, so no refit is possible."
    refit = fx.fit(kept, model.response, factors, sort_key=sort_key)
    try:
        again = effects_table(refit, metric.goal, declared)
    except Exception:  # a declared contrast no longer estimable: say so, keep the report
        return head + ": the refit cannot estimate every declared contrast."
    differ = []
    refitted = {_key(s): s for _, s in again.iterrows()}
    for _, r in table.iterrows():
        s = refitted.get(_key(r))
        if s is None:
            continue
        if _resolved(r) != _resolved(s) or (
            _resolved(r) and (r["estimate"] > 0) != (s["estimate"] > 0)
        ):
            differ.append(
                effect_sentence(s, metric)[:-1]
                + f" (with them: {metric.points(r['estimate'], True)}, "
                f"{'resolved' if _resolved(r) else 'not resolved'})"
            )
    if not differ:
        return (
            head + ": every contrast keeps its resolution and, where resolved, its sign; "
            "the two fits agree."
        )
    return head + ", the two fits disagree: " + "; ".join(differ) + "."


def declared_contrasts(
    runs: pd.DataFrame, client=None, given: str | None = None, study: dict | None = None
) -> list[str]:
    """The study's confirmatory contrasts: ``given`` (``--contrasts``, ';'-separated), else
    ``contrasts`` of the study's config (``study``: ``runs.study_settings``, or the runs'
    tag of it, the newest run's), else its sweep (parent) run's ``report.contrasts`` param."""
    if given:
        return _split(given)
    if study and study.get("contrasts"):
        return _split(study["contrasts"])
    tagged = runs.sort_values("start_time")["contrasts"] if "contrasts" in runs else []
    tagged = [t for t in tagged if t]
    if tagged:
        return _split(tagged[-1])
    if client is not None and "parent_id" in runs:
        for pid in dict.fromkeys(p for p in runs["parent_id"] if p):
            try:
                run = client.get_run(pid)
            except Exception:  # a parent run that cannot be read declares nothing
                continue
            text = run.data.params.get("report.contrasts") or run.data.tags.get(TAG_CONTRASTS)
            if text:
                return _split(text)
    return []


def _split(value) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                value = [v.strip(" '\"") for v in text.strip("[]").split(",")]
        else:
            value = text.split(";")
    return [str(v).strip() for v in value if str(v).strip()]
