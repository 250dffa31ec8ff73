"""What a sweep's parent run shows in the MLflow UI: a description (the command and the
grid), the grid's factors and levels as params, summary metrics when the sweep ends, and
the report of the grid's cells as artifacts (report.html, report.md, summary.csv, figures/).

The report covers the cells of THIS grid, wherever their runs come from: a cell trained by
an earlier sweep (skipped here) is in it, so a rerun of a finished grid still shows the
whole comparison. Nothing here may fail a sweep: the report logs one warning line instead.
"""

from __future__ import annotations

import logging
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ablation import tracking
from ablation.cell.cell import Cell, varying_keys
from ablation.naming import format_duration
from ablation.sweep import judge

log = logging.getLogger("ablation")

NOTE_TAG = tracking.schema.TAG_NOTE  # MLflow's run description (the "Description" box)
BEST_CELL_TAG = tracking.schema.TAG_BEST_CELL
BEST_RUN_TAG = tracking.schema.TAG_BEST_RUN
COMMAND_TAG = tracking.schema.TAG_COMMAND  # the command as typed (for the description at the end)
VARIES_TAG = tracking.schema.TAG_VARIES  # what the grid varies, comma-separated
REFERENCE = "ghimire2023"
#: Accuracies are stored as fractions in [0, 1] (MLflow's convention); shown with percent.
ACC_UNIT = "fraction in [0, 1]"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command as typed: ``python -m ablation -m init=random,kaiming ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    return "python -m ablation " + shlex.join(args) if args else "python -m ablation"


def grid_levels(cells: Sequence[Cell], varies: Sequence[str] | None = None) -> dict[str, str]:
    """``{"init": "random,kaiming", ...}``: what varies, its levels in the order they come."""
    varies = varying_keys(cells) if varies is None else varies
    out = {}
    for key in varies:
        levels = dict.fromkeys(str(c.levels().get(key, "-")) for c in cells)
        out[key] = ",".join(levels)
    return out


def fixed_levels(cells: Sequence[Cell], varies: Sequence[str]) -> dict[str, str]:
    """The factors held fixed (``depth``, ``optim``, ... when they do not vary)."""
    first = cells[0].levels()
    keys = ("init", "reg", "data", "depth", "optim", "seed")
    return {k: str(first[k]) for k in keys if k not in varies}


def acc_text(value: float) -> str:
    return judge.value_text("test/acc", value)


def _judged_by(cells: Sequence[Cell]) -> tuple[str, str]:
    """(metric, goal) of the sweep: its cells' ``task.metric`` and ``task.goal``."""
    task = cells[0].config.task
    return task.metric, task.goal


def description(command: str, cells: Sequence[Cell], n_todo: int, varies: Sequence[str]) -> str:
    """The parent run's description (markdown) at the start: the command, the grid."""
    head = (
        f"**Sweep of {len(cells)} cells**: {n_todo} to run, "
        f"{len(cells) - n_todo} already FINISHED in this experiment."
    )
    return _describe(head, command, cells, varies, "is in this run's Artifacts when the sweep ends")


def _describe(head: str, command: str, cells, varies, report: str) -> str:
    grid = grid_levels(cells, varies)
    metric, goal = _judged_by(cells)
    units = [m for m in dict.fromkeys([metric, "test/acc", "train/acc"]) if judge.is_accuracy(m)]
    lines = [
        head,
        "",
        f"    {command}",
        "",
        "| varies | levels |",
        "|---|---|",
        *(f"| {k} | {v.replace(',', ', ')} |" for k, v in grid.items()),
        "",
        "Fixed: " + (", ".join(f"{k}={v}" for k, v in fixed_levels(cells, varies).items()) or "-"),
        "",
        f"Cells are compared by `{metric}` ({judge.GOAL_WORDS[goal]}: `task.goal={goal}`).",
    ]
    if units:
        keys = ", ".join(f"`{m}`" for m in units)
        lines.append(f"Accuracies ({keys}) are stored as a {ACC_UNIT}.")
    lines.append(f"The report of the grid (report.html) {report}.")
    return "\n".join(lines)


def describe_start(
    client, parent_id: str, command: str, cells: Sequence[Cell], n_todo: int, varies: list[str]
) -> None:
    """Description, grid params (``grid.init = random,kaiming``) and how the cells are
    judged (tags ``ablation.metric``, ``ablation.goal``) on a new parent run."""
    metric, goal = _judged_by(cells)
    tags = {NOTE_TAG: description(command, cells, n_todo, varies)}
    tags |= {tracking.TAG_METRIC: metric, tracking.TAG_GOAL: goal}
    tags[COMMAND_TAG] = command[: tracking.MAX_TAG_LEN]
    tags[VARIES_TAG] = ",".join(varies)[: tracking.MAX_TAG_LEN]
    tracking.set_tags(client, parent_id, tags)
    params = {f"grid.{k}": v for k, v in grid_levels(cells, varies).items()}
    params["grid.cells"] = len(cells)
    tracking.log_params(client, parent_id, params)


def grid_runs(client, exp_id: str, cells: Sequence[Cell], parent_id: str) -> list:
    """Every cell run of the experiment whose config is one of the grid's (any sweep),
    and every run of this sweep (seeds=auto adds seeds the grid did not list)."""
    hashes = {c.config_hash for c in cells}
    runs = tracking.search(client, exp_id, f"tags.`{tracking.TAG_ROLE}` = 'cell'")
    return [
        r
        for r in runs
        if r.data.tags.get(tracking.TAG_HASH) in hashes
        or r.data.tags.get(tracking.TAG_PARENT) == parent_id
    ]


def best_cell(
    runs: list, metric: str = "test/acc", goal: str = "max"
) -> tuple[str, float, str] | None:
    """(cell label, mean ``metric`` over its finished seeds, best seed's run id) of the
    cell with the best mean in the direction of ``goal``."""
    by_cell: dict[str, list] = {}
    for run in runs:
        if run.info.status == "FINISHED" and metric in run.data.metrics:
            by_cell.setdefault(run.data.tags.get(tracking.TAG_CELL_HASH, ""), []).append(run)
    values = {k: [r.data.metrics[metric] for r in rs] for k, rs in by_cell.items()}
    key = judge.best_key(values, goal)
    if key is None:
        return None
    best = by_cell[key]
    top = max(best, key=lambda r: judge.sign(goal) * r.data.metrics[metric])
    label = top.data.tags.get(tracking.TAG_CELL, top.info.run_name)
    return label, statistics.mean(values[key]), top.info.run_id


def varying_label(cells: Sequence[Cell], cell_hash: str, varies: Sequence[str]) -> str | None:
    """The cell's levels of what varies in the grid (``task.C=0.01``), without the seeds."""
    shown = [k for k in varies if k not in ("seed", "data_seed")]
    for cell in cells:
        if cell.cell_hash == cell_hash and shown:
            levels = cell.levels()
            return " ".join(f"{k}={_level(levels.get(k))}" for k in shown)
    return None


def _level(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def summarise(
    client,
    parent_id: str,
    cells: Sequence[Cell],
    finished: int,
    failed: int,
    runs: list,
    *,
    failed_lines: Sequence[str] = (),
) -> str:
    """Summary metrics and the best cell (by ``task.metric`` and ``task.goal``) on the parent
    run, its description rewritten with what happened; one line for the console."""
    metric, goal = _judged_by(cells)
    newest: dict[str, object] = {}
    for run in runs:  # newest FINISHED run per config: what the report compares too
        key = run.data.tags.get(tracking.TAG_HASH)
        if run.info.status == "FINISHED" and (
            key not in newest or run.info.start_time > newest[key].info.start_time
        ):
            newest[key] = run
    skipped = max(len(cells) - finished - failed, 0)
    metrics = {
        "sweep/cells_finished": finished,
        "sweep/cells_failed": failed,
        "sweep/cells_skipped": skipped,
    }
    best = best_cell(list(newest.values()), metric, goal)
    line = best_text = ""
    if best is not None:
        label, mean, run_id = best
        metrics[judge.summary_metric_key(metric)] = mean
        tracking.set_tags(client, parent_id, {BEST_CELL_TAG: label, BEST_RUN_TAG: run_id})
        top = tracking.retry(client.get_run, run_id)
        varies = varying_keys(cells)
        shown = varying_label(cells, top.data.tags.get(tracking.TAG_CELL_HASH, ""), varies)
        direction = "highest" if goal == "max" else "lowest"
        best_text = (
            f"best cell {shown or label}: {metric} {judge.value_text(metric, mean)} "
            f"({direction} mean over seeds)"
        )
        line = best_text
    buffer = tracking.MetricBuffer(client, parent_id)
    buffer.add(0, metrics)
    buffer.flush()
    describe_end(client, parent_id, cells, finished, failed, skipped, best_text, failed_lines)
    return line


def describe_end(
    client,
    parent_id: str,
    cells: Sequence[Cell],
    finished: int,
    failed: int,
    skipped: int,
    best_text: str,
    failed_lines: Sequence[str] = (),
) -> None:
    """Rewrite the parent run's description with what happened: counts, wall time, best."""
    run = tracking.retry(client.get_run, parent_id)
    tags = run.data.tags
    wall = max(time.time() - (run.info.start_time or 0) / 1000, 0.0)
    head = (
        f"**Sweep of {len(cells)} cells, done in {format_duration(wall)}**: "
        f"{finished} trained, {failed} failed, {skipped} skipped (already FINISHED)."
    )
    if best_text:
        head += f"\n\n{best_text[0].upper()}{best_text[1:]}."
    if failed_lines:
        head += "\n\nFailed:\n" + "\n".join(f"- `{x}`" for x in failed_lines[:20])
    command = tags.get(COMMAND_TAG, command_line())
    varies = [k for k in tags.get(VARIES_TAG, "").split(",") if k] or varying_keys(cells)
    text = _describe(head, command, cells, varies, "is in this run's Artifacts")
    tracking.set_tags(client, parent_id, {NOTE_TAG: text[: tracking.MAX_TAG_LEN]})


def wants_reference(cells: Sequence[Cell]) -> str | None:
    """The paper's results when a cell of the grid is one of its Table 3 cells and the cells
    are judged by what the paper states (test/acc, higher is better), else None."""
    from ablation.report.reference import load_reference
    from ablation.sweep.adaptive import REFERENCE_GOAL, REFERENCE_METRIC

    if _judged_by(cells) != (REFERENCE_METRIC, REFERENCE_GOAL):
        return None

    rows = load_reference(REFERENCE).rows
    for cell in cells:
        levels = {k: str(v) for k, v in cell.levels().items()}
        if any(all(levels.get(f) == str(v) for f, v in row.factors.items()) for row in rows):
            return REFERENCE
    return None


def log_report(
    client, uri: str, experiment: str, parent_id: str, cells: Sequence[Cell], runs: list
) -> None:
    """Build the report of the grid's runs and log it to the parent run; never raises."""
    tic = time.perf_counter()
    try:
        from ablation.report.builder import build

        if not runs:
            raise RuntimeError("no run of this grid in the store")
        # every run of the grid came from this sweep: say so; else name the runs
        ours = all(r.data.tags.get(tracking.TAG_PARENT) == parent_id for r in runs)
        ids = ", ".join(tracking.quote(r.info.run_id) for r in runs)
        where = (
            {"parent": parent_id} if ours else {"filter_string": f"attributes.run_id IN ({ids})"}
        )
        with tempfile.TemporaryDirectory(prefix="ablation-sweep-report-") as tmp:
            result = build(experiment, uri, tmp, reference=wants_reference(cells), **where)
            tracking.retry(client.log_artifacts, parent_id, str(Path(result.html).parent))
    except Exception as err:  # a report failure never fails the sweep
        reason = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        log.warning(
            f"warning: no report on the sweep run ({reason}); build it with "
            f"python -m ablation.report --experiment {shlex.quote(experiment)}"
        )
        return
    log.info(f"report logged to the sweep run ({time.perf_counter() - tic:.0f}s): report.html")
