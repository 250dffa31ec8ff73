"""Overview: the experiment, the store, what was kept, what is compared and how."""

from __future__ import annotations

from datetime import UTC, datetime

from ablation.report.render import Bullets, Document, Heading
from ablation.report.sections.common import Context, display_uri


def _metrics_line(ctx: Context) -> str:
    parts = [
        f"{m.key} ({'higher' if m.goal == 'max' else 'lower'} is better, goal {m.goal})"
        for m in ctx.metrics
    ]
    return (
        f"Compared by: {'; '.join(parts)} (task.metric / task.goal, or --metric / --goal); "
        "best, worst, contrasts, effects and verdicts all use it"
    )


def section(doc: Document, ctx: Context) -> None:
    counts = ctx.runs["status"].value_counts()
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    seeds = sorted({int(s) for s in ctx.runs["seed"].dropna()})
    items = [
        f"Experiment: {ctx.experiment}",
        f"Tracking store: {display_uri(ctx.uri)}",
        f"Child runs fetched: {len(ctx.raw)}; kept {len(ctx.runs)} (the newest FINISHED run "
        f"per configuration hash): {status}",
        f"Cells: {len(ctx.cells)} ({', '.join(ctx.vary) or 'no varying factor'}); "
        f"seeds: {', '.join(map(str, seeds)) or 'unknown'}",
        _metrics_line(ctx),
        f"Generated: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "Units: accuracies, recalls and precisions are stored in MLflow as fractions in "
        "[0, 1] (test/acc 0.9733); this report shows them in percent (97.33); any other "
        "metric as logged",
    ]
    done = set(ctx.runs.loc[ctx.runs["status"] == "FINISHED", "config_hash"])
    superseded = int(((ctx.raw["status"] != "FINISHED") & ctx.raw["config_hash"].isin(done)).sum())
    if superseded > 0:
        items.append(
            f"{superseded} failed or unfinished attempt(s) were superseded by a later "
            "FINISHED run of the same configuration and are not counted"
        )
    if ctx.parent:
        items.append(f"Restricted to the sweep with parent run {ctx.parent}")
    if ctx.filter_string:
        shown = ctx.filter_string  # a sweep's report lists its runs' ids: keep it short
        if len(shown) > 200:
            shown = f"{shown[:200]}... ({len(shown)} characters)"
        items.append(f"Run filter: {shown}")
    if ctx.ref:
        items.append(f"Reference: {ctx.ref.citation}")
    doc.add(Heading("Overview"), Bullets(items))
