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

log = logging.getLogger("ablation")

NOTE_TAG = tracking.schema.TAG_NOTE  # MLflow's run description (the "Description" box)
BEST_CELL_TAG = tracking.schema.TAG_BEST_CELL
BEST_RUN_TAG = tracking.schema.TAG_BEST_RUN
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
    return f"{value:.4f} ({value:.2%})"


def description(command: str, cells: Sequence[Cell], n_todo: int, varies: Sequence[str]) -> str:
    """The parent run's description (markdown): the command, the grid, where the report is."""
    grid = grid_levels(cells, varies)
    lines = [
        f"**Sweep of {len(cells)} cells**: {n_todo} to run, "
        f"{len(cells) - n_todo} already FINISHED in this experiment.",
        "",
        f"    {command}",
        "",
        "| varies | levels |",
        "|---|---|",
        *(f"| {k} | {v.replace(',', ', ')} |" for k, v in grid.items()),
        "",
        "Fixed: " + (", ".join(f"{k}={v}" for k, v in fixed_levels(cells, varies).items()) or "-"),
        "",
        f"Accuracies (`test/acc`, `train/acc`) are stored as a {ACC_UNIT}.",
        "The report of the grid (report.html) is in this run's Artifacts when the sweep ends.",
    ]
    return "\n".join(lines)


def describe_start(
    client, parent_id: str, command: str, cells: Sequence[Cell], n_todo: int, varies: list[str]
) -> None:
    """Description and grid params (``grid.init = random,kaiming``) on a new parent run."""
    tracking.set_tags(client, parent_id, {NOTE_TAG: description(command, cells, n_todo, varies)})
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


def best_cell(runs: list) -> tuple[str, float, str] | None:
    """(cell label, mean test/acc over its finished seeds, best seed's run id) of the best."""
    by_cell: dict[str, list] = {}
    for run in runs:
        if run.info.status == "FINISHED" and "test/acc" in run.data.metrics:
            by_cell.setdefault(run.data.tags.get(tracking.TAG_CELL_HASH, ""), []).append(run)
    if not by_cell:
        return None
    best = max(by_cell.values(), key=lambda rs: statistics.mean(_acc(r) for r in rs))
    top = max(best, key=_acc)
    label = top.data.tags.get(tracking.TAG_CELL, top.info.run_name)
    return label, statistics.mean(_acc(r) for r in best), top.info.run_id


def _acc(run) -> float:
    return run.data.metrics["test/acc"]


def summarise(client, parent_id: str, n_cells: int, finished: int, failed: int, runs: list):
    """Summary metrics and the best cell on the parent run; one line for the console."""
    newest: dict[str, object] = {}
    for run in runs:  # newest FINISHED run per config: what the report compares too
        key = run.data.tags.get(tracking.TAG_HASH)
        if run.info.status == "FINISHED" and (
            key not in newest or run.info.start_time > newest[key].info.start_time
        ):
            newest[key] = run
    metrics = {
        "sweep/cells_finished": finished,
        "sweep/cells_failed": failed,
        "sweep/cells_skipped": max(n_cells - finished - failed, 0),
    }
    best = best_cell(list(newest.values()))
    line = ""
    if best is not None:
        label, acc, run_id = best
        metrics["sweep/best_test_acc"] = acc
        tracking.set_tags(client, parent_id, {BEST_CELL_TAG: label, BEST_RUN_TAG: run_id})
        line = f"best cell {label}: test/acc {acc_text(acc)} (mean over seeds)"
    buffer = tracking.MetricBuffer(client, parent_id)
    buffer.add(0, metrics)
    buffer.flush()
    return line


def wants_reference(cells: Sequence[Cell]) -> str | None:
    """The paper's results when a cell of the grid is one of its Table 3 cells, else None."""
    from ablation.report.reference import load_reference

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
        from ablation.report.build import build

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
