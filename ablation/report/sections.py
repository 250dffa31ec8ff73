"""The report's sections: each adds headings, text, tables and figures to a ``Document``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from ablation.config.schema import MLP_TASK, MLP_TASKS, PROTOCOL_PARAMS
from ablation.data.loading import DATASETS
from ablation.report.cells import sorted_levels
from ablation.report.reference import Reference
from ablation.report.render import Bullets, Document, Heading, Image, Para, Table
from ablation.report.seed_sections import (
    contrast_section,
    failed_seeds,
    failed_to_train_table,
    variance_section,
)
from ablation.report.stats import (
    FAILED_TO_TRAIN_RULE,
    INTERVAL_SENTENCE,
    VERDICT_RULE,
    anova,
    effect_sentences,
    format_p,
    interval,
    robust_centre,
)

#: The protocol table's rows: the protocol parameters, less those the report shows elsewhere
#: (depth is a factor or in the cell label; the data source has its own line).
PROTOCOL_ROWS = [p for p in PROTOCOL_PARAMS if p not in ("depth", "data.name")]


def _source_summary(name: str) -> str:
    spec = DATASETS.get(name)
    return spec.summary if spec is not None and spec.summary else "see the run params"


@dataclass
class Context:
    experiment: str
    uri: str
    parent: str | None
    filter_string: str | None
    ref: Reference | None
    raw: pd.DataFrame  # every child run fetched
    runs: pd.DataFrame  # newest run per config hash, with factor columns and 'cell'
    fin: pd.DataFrame  # the FINISHED ones
    factors: list[str]
    vary: list[str]
    cells: pd.DataFrame
    comp: pd.DataFrame | None
    fig_dir: Path
    sort_key: Callable
    #: ``task._target_`` when the runs are of a user's task (None: the built-in MLP)
    task: str | None = None


def user_task(runs: pd.DataFrame) -> str | None:
    """The ``task._target_`` of runs of a user's task; None for the built-in MLP's runs
    (whose ``task`` node is not logged). The paper's parts of the report need MLP runs."""
    targets = {str(p.get("task._target_", MLP_TASK)) for p in runs["params"] if isinstance(p, dict)}
    targets -= set(MLP_TASKS)
    return ", ".join(sorted(targets)) or None


def fmt_ci(mean: float, lo: float, hi: float, digits: int = 2, values=None) -> str:
    """'80.12 [79.60, 80.64]' (mean [95% interval]); without an interval the seeds' values
    ('86.10, 87.80 (n=2)') when ``values`` are given, else the mean; '—' if there is none."""
    if mean is None or math.isnan(mean):
        return "—"
    if lo is None or math.isnan(lo):
        if values is not None and len(values) > 1:
            return ", ".join(f"{v:.{digits}f}" for v in values) + f" (n={len(values)})"
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _num(x: float, digits: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def image(doc: Document, ctx: Context, path: Path, caption: str) -> None:
    doc.add(Image(path=path, caption=caption, rel=f"figures/{path.name}"))


def display_uri(uri: str, cwd: Path | None = None) -> str:
    """A local store's URI relative to ``cwd`` when the store lies under it, else as given.

    ``sqlite:////home/me/study/mlruns/mlflow.db`` run from ``/home/me/study`` becomes
    ``sqlite:///mlruns/mlflow.db``: a published report names no path of the machine.
    """
    for prefix in ("sqlite:///", "file://", ""):
        if uri.startswith(prefix) and (prefix or "://" not in uri):
            path = Path(uri[len(prefix) :])
            break
    else:
        return uri
    if not path.is_absolute():
        return uri
    try:
        rel = path.resolve().relative_to((cwd or Path.cwd()).resolve())
    except ValueError:
        return uri
    return f"{'sqlite:///' if prefix == 'sqlite:///' else ''}{rel.as_posix()}"


def overview(doc: Document, ctx: Context) -> None:
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
        f"Generated: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        "Units: accuracies, recalls and precisions are stored in MLflow as fractions in "
        "[0, 1] (test/acc 0.9733); this report shows them in percent (97.33)",
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


def _distinct(ctx: Context, key: str) -> str:
    values = ctx.fin["params"].map(lambda p: p.get(key)).dropna()
    if values.empty:
        return ""
    counts = values.value_counts()
    return "; ".join(f"{v} ({n} runs)" for v, n in counts.items())


def _task_protocol(doc: Document, ctx: Context) -> None:
    """A user's task: what trained the cells and its settings held fixed."""
    doc.add(Heading("Protocol"))
    doc.add(Bullets([f"Task: {ctx.task} (a task of the user's own, task._target_)."]))
    keys = sorted({k for p in ctx.fin["params"] for k in p if k.startswith("task.")})
    keys = [k for k in keys if k != "task._target_" and k not in ctx.vary]
    _settings_table(
        doc, ctx, keys, "The task's settings that are not factors, read from the run params."
    )


def _settings_table(doc: Document, ctx: Context, keys, caption: str) -> None:
    """One row per setting the finished runs logged: its values and how many runs had each."""
    rows = [(k, v) for k in keys if (v := _distinct(ctx, k))]
    if rows:
        doc.add(Table(pd.DataFrame(rows, columns=["param", "values (finished runs)"]), caption))


def protocol(doc: Document, ctx: Context) -> None:
    if ctx.task:
        _task_protocol(doc, ctx)
        return
    doc.add(Heading("Protocol"))
    names = sorted(set(ctx.runs["params"].map(lambda p: p.get("data.name", "?"))))
    items = [f"Data '{n}': {_source_summary(n)}." for n in names]
    if "data" in ctx.runs:
        sizes = sorted_levels("data", ctx.runs["data"].unique())
        items.append(f"Training-set sizes (factor data): {', '.join(sizes)}.")
    doc.add(Bullets(items))
    _settings_table(doc, ctx, PROTOCOL_ROWS, "Training settings read from the run params.")
    if ctx.ref and ctx.ref.protocol:
        p = ctx.ref.protocol
        doc.add(
            Para(
                f"How this differs from the paper: {_data_difference(names)} "
                f"{p.get('notes', '')} Our learning rate and iterations (above) are "
                f"therefore our choice. Paper architecture: {p.get('architecture', '?')}; "
                f"optimiser: {p.get('optimiser', '?')}.",
                "note",
            )
        )


def _data_difference(names: list[str]) -> str:
    paper = (
        "the paper's 42k rows use Kaggle's 'Digit Recognizer' train.csv (42,000 digits) "
        "with the authors' own train/test split, and its 60k rows the MNIST training set;"
    )
    if set(names) <= {"mnist", "mnist_idx"}:
        ours = (
            "our 42k is a nested, stratified subset of the MNIST training set, and every "
            "cell is tested on the official 10,000-digit MNIST test set, so our test numbers "
            "are not measured on the paper's test images."
        )
    elif "kaggle_csv" in names:
        ours = (
            "where we also read Kaggle's train.csv, the train/test split is ours (seeded, "
            "stratified), not the authors', so test numbers are on different images."
        )
    else:
        ours = f"our data ({', '.join(names)}) is not the paper's, so numbers are not comparable."
    return f"{paper} {ours}"


def _ours(r, side: str) -> str:
    """Our mean [interval] in a comparison row, or the seeds' values below 3 seeds."""
    o = f"ours_{side}"
    return fmt_ci(r[o], r[f"{o}_lo"], r[f"{o}_hi"], 2, r[f"{o}_values"])


def comparison(doc: Document, ctx: Context, figure_fn) -> None:
    """Paper rows beside our cells; rows this study did not run are named in one line.

    A study that runs none of the paper's cells (e.g. an optimiser or protocol study)
    gets no section at all, not a table of empty rows.
    """
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
                "ours test median (%)": _num(r["ours_test_median"], 2),
                "n seeds": str(r["n"]),
                "Δ test (points)": _num(r["delta_test"], 2, sign=True),
                "verdict": r["verdict"],
            }
        )
    doc.add(
        Table(
            pd.DataFrame(rows),
            f"{INTERVAL_SENTENCE} Median: the middle seed, which one failed seed cannot move. "
            f"Δ = our mean − paper (test). {VERDICT_RULE}",
        )
    )
    notes = [f"{r['label']}: {r['note']}" for _, r in comp.iterrows() if r["note"]]
    not_run = list(ctx.comp.loc[~ran, "label"])
    if not_run:
        notes.append("Paper rows not run in this study: " + "; ".join(not_run) + ".")
    if notes:
        doc.add(Bullets(notes))
    if figure_fn is not None and comp["ours_test"].notna().any():
        p = figure_fn(ctx.comp, ctx.fig_dir / "paper_vs_ours.png")
        image(
            doc,
            ctx,
            p,
            "Test accuracy: paper (x) vs. ours (dot = mean over seeds; bar = 95% t-interval "
            "clipped to [0, 100], drawn only with at least 3 seeds; paper rows not run here "
            "are named under the axes).",
        )


GRID_METRICS = (
    ("train_acc", "train acc (%)", 2, 100.0),
    ("test_acc", "test acc (%)", 2, 100.0),
    ("train_loss", "train loss", 4, math.inf),
    ("test_loss", "test loss", 4, math.inf),
)


def _summary(values, digits: int, hi_bound: float = 100.0) -> str:
    """fmt_ci of a cell's seed values: mean [clipped interval], or the values below 3 seeds."""
    v = [float(x) for x in values if x == x]
    mean, lo, hi, _ = interval(v, hi_bound=hi_bound)
    return fmt_ci(mean, lo, hi, digits, v)


def grid(doc: Document, ctx: Context) -> None:
    doc.add(Heading("Full grid"))
    flagged = failed_seeds(ctx.fin)
    fin = ctx.fin.sort_values("seed") if not ctx.fin.empty else ctx.fin
    by_cell = dict(tuple(fin.groupby("cell", sort=False))) if not fin.empty else {}
    rows = []
    for _, c in ctx.cells.iterrows():
        row = {f: c[f] for f in ctx.vary}
        row["cell"] = c["cell"]
        row["status"] = c["status_text"]
        row["n seeds"] = str(c["n_seeds"])
        g = by_cell.get(c["cell"], fin.iloc[:0])
        for m, label, d, hi_bound in GRID_METRICS:
            row[label] = _summary(g[m], d, hi_bound) if len(g) else "—"
            if m == "test_acc":
                row["test median (%)"] = _num(robust_centre(g[m]), 2) if len(g) else "—"
                bad = flagged[flagged["cell"] == c["cell"]]
                row["failed to train"] = ", ".join(f"seed {s}" for s in bad["seed"]) or "—"
                kept = g[~g["run_id"].isin(bad["run_id"])]
                row["test acc w/o failed (%)"] = _summary(kept[m], d) if len(bad) else "—"
        row["fit time (s)"] = _num(c["fit_s_mean"], 1)
        rows.append(row)
    doc.add(
        Table(
            pd.DataFrame(rows),
            f"Every cell of the full factorial of the observed factor levels, over finished "
            f"seeds. {INTERVAL_SENTENCE} Losses: the same interval, clipped at 0. Median: the "
            f"middle seed. {FAILED_TO_TRAIN_RULE} 'w/o failed' = the cell without those "
            "seeds. 'missing' = never run; 'FAILED' = no finished run, with the logged reason.",
        )
    )
    missing = int((ctx.cells["status"] == "missing").sum())
    if missing:
        doc.add(Para(f"{missing} cell(s) of the full factorial have no run at all.", "note"))


def effects(doc: Document, ctx: Context) -> None:
    """The ANOVA overview, then the contrasts between levels and the variance shares."""
    _anova(doc, ctx)
    contrast_section(doc, ctx)
    variance_section(doc, ctx)


def _anova(doc: Document, ctx: Context) -> None:
    doc.add(Heading("Effects (ANOVA on final test accuracy)"))
    fin = ctx.fin
    vary = [f for f in ctx.vary if not fin.empty and fin[f].nunique() > 1]
    if not vary:
        doc.add(Para("No factor varies across finished runs, so there is nothing to test."))
        return
    per_cell = fin.groupby(vary)["test_acc"].count()
    one_seed = int(per_cell.max()) <= 1
    result = anova(fin, "test_acc", vary, interactions=not one_seed)
    if one_seed:
        doc.add(
            Para(
                "Each cell has a single seed, so no confidence interval can be given for a "
                "cell and the cell values above are point values. A main-effects-only model is "
                "fitted when the residual degrees of freedom allow: its error term is the "
                "interaction variation, so its p-values assume the factors do not interact.",
                "note",
            )
        )
    if not result.fitted:
        doc.add(Para("No test possible: " + "; ".join(result.notes) + "."))
        return
    doc.add(
        Para(
            f"Type-II ANOVA over individual runs (seeds) of final test accuracy (%), with main "
            f"effects{' and two-way interactions' if ':' in result.formula else ''} "
            f"of the factors that vary ({', '.join(vary)}); residual df = {result.df_resid:.0f}. "
            "Partial η² = SS_effect / (SS_effect + SS_residual)."
        )
    )
    table = result.table.assign(
        df=result.table["df"].map(lambda v: f"{v:.0f}"),
        F=result.table["F"].map(lambda v: _num(v, 2)),
        p=result.table["p"].map(lambda v: format_p(v).removeprefix("p = ").replace("p ", "")),
        partial_eta2=result.table["partial_eta2"].map(lambda v: _num(v, 3)),
    )[["term", "df", "F", "p", "partial_eta2"]].rename(columns={"partial_eta2": "partial η²"})
    doc.add(
        Table(
            table,
            "Type-II ANOVA (statsmodels OLS) over runs: p from each term's F-test, not corrected "
            "for the number of terms; the contrasts below say by how much and where.",
        )
    )
    sentences = effect_sentences(fin, "test_acc", vary, result, sort_key=ctx.sort_key)
    if sentences:
        doc.add(Bullets(sentences))
    else:
        doc.add(Para("No effect is significant at p < 0.05."))
    notes = [n for n in result.notes if not (one_seed and n.startswith("one run per cell"))]
    if notes:
        doc.add(Para("Notes: " + "; ".join(notes) + ".", "note"))


def per_class(doc: Document, ctx: Context, make_figures: bool) -> None:
    from ablation.report import figures as figs
    from ablation.report.per_class import per_class_tables

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
        shown = table.map(lambda v: _num(v, 1)).reset_index()
        doc.add(
            Heading(f"Per-digit test {name} (%)", 3),
            Table(shown, "Mean over finished seeds per cell; columns are digits 0–9."),
        )
    if make_figures:
        p = figs.per_class_heatmap(recall, ctx.fig_dir / "per_class_recall.png")
        image(doc, ctx, p, "Per-digit test recall (%) per cell, mean over seeds.")


def ap_table(doc: Document, curves: dict) -> None:
    digits = [str(k) for k in range(len(curves["auc"]))]
    rows = [
        ["ROC AUC", *(_num(v, 4) for v in curves["auc"])],
        ["average precision", *(_num(v, 4) for v in curves["ap"])],
    ]
    doc.add(Table(pd.DataFrame(rows, columns=["digit", *digits])))


def failures(doc: Document, ctx: Context) -> None:
    """Runs that did not finish, then finished seeds that failed to train."""
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


def provenance(doc: Document, ctx: Context) -> None:
    commits = sorted({c for c in ctx.runs["git_commit"] if c})
    sums = sorted({c for c in ctx.runs["data_checksum"] if c})
    items = [
        f"git commit(s): {', '.join(commits) or 'not logged'}",
        f"data checksum(s): {', '.join(sums) or 'not logged'}",
    ]
    if len(commits) > 1:
        items.append("More than one code version produced these runs.")
    doc.add(Heading("Provenance"), Bullets(items))


def _epoch(epoch: float, updates: float) -> str:
    if epoch is None or math.isnan(epoch):
        return "not reached"
    if updates is None or math.isnan(updates) or updates == epoch:
        return f"{epoch:g}"
    return f"{epoch:g} ({updates:g} updates)"


def budget_matched(doc: Document, ctx: Context, table: pd.DataFrame) -> None:
    """The paper's accuracy found on our learning curves (``budget.budget_table``)."""
    if table.empty:  # no paper row was run here (or no test/acc history): nothing to match
        return
    doc.add(Heading("Paper's accuracy on our learning curves (budget-matched)"))
    rows = []
    for _, r in table.iterrows():
        if r["seeds_reached"]:
            spread = f"{r['seed_median']:g} [{r['seed_min']:g}–{r['seed_max']:g}]"
        else:
            spread = "—"
        rows.append(
            {
                "paper row": r["paper_row"],
                "paper test (%)": f"{r['paper_test']:g}",
                "our cell": r["cell"],
                "our mean first reaches it at epoch (updates)": _epoch(
                    r["mean_epoch"], r["mean_updates"]
                ),
                "logged every (epochs)": _num(r["logged_every"], 0),
                "per seed: median [range] epoch": spread,
                "seeds reaching it": f"{r['seeds_reached']} of {r['n_seeds']}",
                "ours at the end (%)": f"{_num(r['ours_final'])} (epoch {r['final_epoch']:g})",
            }
        )
    doc.add(
        Table(
            pd.DataFrame(rows),
            "The first logged evaluation at which our test accuracy, averaged over seeds, is at "
            "or above the paper's test accuracy for the row, so the budget at which our "
            "training matches the paper's number; epochs are passes over the training set (a "
            "full-batch step is one epoch and one update; a minibatch epoch's updates are in "
            "brackets). Per seed: median and range of the first-reaching epochs of the seeds "
            "that reach it. Resolution: the logging interval. The paper's accuracies are drawn "
            "as dashed lines on the learning curves.",
        )
    )


def validation(doc: Document, ctx: Context, hist: pd.DataFrame | None = None) -> None:
    """Validation metrics beside test, when the study held out a validation split, and
    whether every seed trained stably (the protocol's rule, ``report/stability.py``)."""
    from ablation.report.stability import STABLE_RISE, loss_rise

    fin = ctx.fin
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
