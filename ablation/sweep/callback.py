"""Work around a multirun, in the main process, before and after its jobs (a Hydra Callback).

Before any job starts: expand the grid, compose and validate every cell (a bad value
fails here, before anything is trained or written), create the store, the experiment
and ONE parent run, mark runs of dead local processes KILLED, count what is already
done, and print an estimate of the time left. The parent run id reaches every job,
whatever the launcher, through ``hydra.job.env_set``.

After the jobs: list failed cells on the console and on the parent run, close it, and
end the process with exit code 1 if a cell failed.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, read_write

from ablation import tracking
from ablation.cell.cell import Cell, varying_keys
from ablation.data import DATASETS
from ablation.errors import EXIT_FAILED, ConfigError, exit_status
from ablation.naming import format_duration
from ablation.run import progress
from ablation.run.signals import as_interrupted, deferred
from ablation.sweep import adaptive, launcher
from ablation.sweep import summary as sweep_summary
from ablation.sweep.grid import expand_cells
from ablation.tracking import TAG_CELL, TAG_OVERRIDES, TAG_PARENT, TAG_ROLE

log = logging.getLogger("ablation")

#: Parent runs this process opened and has not closed yet (run id -> store URI): what
#: :func:`close_open_sweeps` closes when the process ends another way than the sweep's end.
_OPEN_PARENTS: dict[str, str] = {}


def _check_sweep_dir(folder: str) -> None:
    """Hydra creates the sweep's folder only after the parent run exists: check first that
    it can be (its nearest existing folder is a writable folder), creating nothing."""
    path = Path(folder).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        why = "not a folder" if not existing.is_dir() else "not writable"
        raise ConfigError(
            f"hydra.sweep.dir={folder} cannot be created ({existing} is {why}); "
            "pass hydra.sweep.dir=a/writable/folder"
        )


def _workers(master: DictConfig, in_turn: bool) -> int:
    n_jobs = master.hydra.launcher.get("n_jobs")
    if n_jobs is not None and int(n_jobs) == 0:
        raise ConfigError(
            "hydra.launcher.n_jobs=0 is invalid; give the number of cells to run side by "
            "side (>= 1), or -1 for one per core"
        )
    if n_jobs is None or in_turn:
        return 1
    return launcher.cores() if int(n_jobs) < 0 else int(n_jobs)


def _gemm_gflops() -> float:
    """A quick float32 GEMM rate on this machine, for time estimates before any history."""
    rng = np.random.default_rng(0)
    a = rng.random((2000, 784), dtype=np.float32)
    b = rng.random((784, 200), dtype=np.float32)
    a @ b
    tic = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * a.shape[0] * a.shape[1] * b.shape[1] / (time.perf_counter() - tic) / 1e9


def _how(workers: int) -> str:
    if workers == 1:
        return "one at a time, each on every core"
    return f"{workers} at a time"


def estimate_seconds(cell: Cell, gflops: float) -> float:
    """Training cost from the FLOP count of the cell.

    About 4 flops per weight and sample and step (forward and weight gradient; the first
    layer, which holds most weights, forms no input gradient), at 80% of the GEMM rate
    (benchmarks/README.md), plus start-up, data and logging.
    """
    cfg = cell.config
    source = DATASETS[cfg.data.name]
    sizes = [source.n_features, *cfg.model.hidden, source.n_classes]
    weights = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    n = cfg.data.n_train or source.train_size or 60000  # files of unknown size: MNIST's
    passes = cfg.optim.iterations if cell.full_batch else 1.6 * cfg.optim.epochs
    evals = (passes / cfg.optim.eval_every) * 2 * 10000 * weights
    factor = 2 if cfg.dtype == "float64" else 1
    return 1.5 + factor * (4 * n * weights * passes + evals) / (0.8 * gflops * 1e9)


class SweepCallback(Callback):
    """Registered in ``conf/config.yaml`` under ``hydra.callbacks``."""

    def __init__(self) -> None:
        self.uri: str | None = None
        self.parent_id: str | None = None
        self.exp_id: str | None = None
        self.cells: list[Cell] = []
        #: one line per failed cell of the last sweep; ``python -m ablation`` exits 1 then
        self.failed: list[str] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._start(config)
        except Exception as err:  # Hydra would only warn, then run every cell without a parent
            _exit_for(err, "cannot start the sweep")

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._end(config)
        except Exception as err:  # Hydra would only warn, and leave the parent RUNNING
            _exit_for(err, "cannot finish the sweep")

    def _start(self, config: DictConfig) -> None:
        self.failed = []
        self.cells = cells = expand_cells(config)
        _check_sweep_dir(str(config.hydra.sweep.dir))
        first = cells[0].config
        self.uri = tracking.resolve_uri(first.tracking.uri)
        client = tracking.client_for(self.uri)
        self.exp_id = tracking.ensure_experiment(client, self.uri, first.experiment_name)
        reaped = tracking.reap_stale(client, self.exp_id)
        done = tracking.finished_hashes(client, self.exp_id)
        todo = [c for c in cells if first.rerun or c.config_hash not in done]
        adaptive_seeds = adaptive.is_auto(config.hydra.sweeper)  # it may add seeds later
        if not todo and not adaptive_seeds:  # a no-op rerun: no parent run, no jobs launched
            if reaped:
                log.info(f"marked {len(reaped)} run(s) of dead processes KILLED")
            log.info(
                f"sweep '{first.experiment_name}': all {len(cells)} cells already FINISHED; "
                f"nothing to run (rerun=true trains again)\n  store {self.uri}"
            )
            raise SystemExit(0)

        durations: dict[str, list[float]] = {}
        for run in done.values():
            seconds = run.data.metrics.get("time/total_s")
            if seconds:
                durations.setdefault(run.data.tags.get(tracking.TAG_CELL_HASH, ""), []).append(
                    seconds
                )
        in_turn = launcher.in_turn(cells)
        if launcher.is_auto(config.hydra.launcher):
            # the auto launcher is instantiated after this callback, from this node: it
            # takes the choice from here, and every job reads it from its own config
            with read_write(config.hydra.launcher):
                config.hydra.launcher.in_turn = in_turn
                # only the jobs to run are launched (and counted in "Launching k jobs")
                skip = len(todo) < len(cells) and not adaptive_seeds  # its rounds: all new
                config.hydra.launcher.jobs_to_run = (
                    [list(c.overrides) for c in todo] if skip else None
                )
            with read_write(config.hydra.overrides.hydra):
                config.hydra.overrides.hydra.append(f"hydra.launcher.in_turn={in_turn}")
        else:
            in_turn = False
        workers = min(_workers(config, in_turn), max(len(todo), 1))
        gflops = None
        total = 0.0
        unknown = 0  # user-task cells with no history: their time is unknown until one ends
        for cell in todo:
            if durations.get(cell.cell_hash):
                total += statistics.median(durations[cell.cell_hash])
            elif not cell.is_mlp:
                unknown += 1
            else:
                gflops = gflops or _gemm_gflops()
                # side by side, a cell has one core of the machine's rate
                share = 1 if workers == 1 else launcher.cores()
                total += estimate_seconds(cell, gflops / share)

        overrides = " ".join(config.hydra.overrides.task) or "(none)"
        varies = varying_keys(cells)
        with deferred():  # a signal now is raised once the parent is noted, to be closed
            self.parent_id = tracking.start_run(
                client,
                self.exp_id,
                # what the sweep varies, first: the runs table cuts long names
                name=f"sweep {' x '.join(varies) or 'of 1 cell'} {time.strftime('%m-%d %H:%M')}",
                tags={
                    TAG_ROLE: "sweep",
                    TAG_OVERRIDES: overrides,
                    "ablation.n_cells": str(len(cells)),
                    "ablation.n_todo": str(len(todo)),
                    "ablation.git_commit": tracking.git_commit(),
                    "ablation.sweep_dir": str(config.hydra.sweep.dir),
                },
            )
            _OPEN_PARENTS[self.parent_id] = self.uri
        command = sweep_summary.command_line()
        sweep_summary.describe_start(client, self.parent_id, command, cells, len(todo), varies)

        job_env = {
            # what varies names the runs; the cost kinds and workers give the time left
            progress.VARIES_ENV: ",".join(varies),
            progress.KINDS_ENV: progress.encode_kinds(progress.cost_kind(c.params) for c in todo),
            progress.WORKERS_ENV: str(workers),
            # each job reads these from its own config (hydra.job.env_set); Hydra also
            # sets them in the job's environment, for the processes a job starts
            tracking.PARENT_ENV: self.parent_id,
            tracking.SWEEP_TOTAL_ENV: str(len(cells)),
            tracking.SWEEP_TODO_ENV: str(len(todo)),
            tracking.SWEEP_T0_ENV: f"{time.time():.3f}",
            # The parent's store, for cells whose tracking.uri is null: a cell on a Ray or
            # Slurm worker has another working directory and not this environment.
            "MLFLOW_TRACKING_URI": self.uri,
            tracking.SWEEP_HOST_ENV: tracking.HOST,
        }
        hydra_overrides = config.hydra.overrides.hydra
        with read_write(hydra_overrides):
            for key, value in job_env.items():
                # quoted: a ',' in a path would make a sweep, an '=' would not parse
                hydra_overrides.append(f"++hydra.job.env_set.{key}={tracking.quote(value)}")

        if reaped:
            log.info(f"marked {len(reaped)} run(s) of dead processes KILLED")
        eta = f"about {format_duration(total / workers)} left" if todo else "nothing to do"
        if unknown:
            eta = (f"{eta} plus " if total else "") + f"{unknown} cell(s) of unknown time"
        what = "first round of seeds=auto, " if adaptive.is_auto(config.hydra.sweeper) else ""
        log.info(
            f"sweep '{first.experiment_name}': {what}{len(cells)} cells, {len(cells) - len(todo)} "
            f"already FINISHED, {len(todo)} to run {_how(workers)}; {eta}\n"
            f"  store {self.uri}  parent run {self.parent_id}"
        )

    def _end(self, config: DictConfig) -> None:
        if self.parent_id is None:
            return
        client = tracking.client_for(self.uri)
        children = tracking.search(client, self.exp_id, f"tags.`{TAG_PARENT}` = '{self.parent_id}'")
        failed = [r for r in children if r.info.status in ("FAILED", "KILLED")]
        lines = [
            f"{r.data.tags.get(TAG_OVERRIDES, r.data.tags.get(TAG_CELL, r.info.run_id))}"
            f"  ->  {r.data.tags.get(tracking.TAG_FAILURE, r.info.status)}"
            for r in failed
        ]
        finished = sum(r.info.status == "FINISHED" for r in children)
        grid = sweep_summary.grid_runs(client, self.exp_id, self.cells, self.parent_id)
        best = sweep_summary.summarise(
            client, self.parent_id, self.cells, finished, len(failed), grid, failed_lines=lines
        )
        first = self.cells[0].config
        if first.report:
            sweep_summary.log_report(
                client, self.uri, first.experiment_name, self.parent_id, self.cells, grid
            )
        tracking.set_tags(
            client,
            self.parent_id,
            {
                "ablation.n_finished": finished,
                "ablation.n_failed": len(failed),
                "ablation.failed_cells": "\n".join(lines)[:5000] or "none",
            },
        )
        if lines:
            tracking.retry(
                client.log_text, self.parent_id, "\n".join(lines) + "\n", "failed_cells.txt"
            )
        tracking.retry(
            client.set_terminated, self.parent_id, status="FAILED" if failed else "FINISHED"
        )
        _OPEN_PARENTS.pop(self.parent_id, None)
        self.failed = lines
        log.info(
            f"sweep done: {finished} cell(s) trained in this sweep, {len(failed)} failed"
            + (f"; {best}" if best else "")
            + "".join(f"\n  FAILED {line}" for line in lines)
        )
        if lines:  # the last step of the sweep: its exit code says a cell failed
            raise SystemExit(1)


def _exit_for(err: Exception, doing: str) -> None:
    """End the process from a callback (Hydra turns a callback's exception into a warning):
    one line, the parent run (if any) FAILED, exit 2 for bad input, else 1. A stop signal
    that library code turned into this error goes on as the stop (KILLED, 128 + signal)."""
    stop = as_interrupted(err)
    if stop is not None:
        raise stop from None
    code, message = exit_status(err)
    if code == EXIT_FAILED:  # not the user's input: say what was being done
        message = f"error: {doing}: {message.removeprefix('error: ')}"
    print(message, file=sys.stderr, flush=True)
    for problem in close_open_sweeps("FAILED", message.removeprefix("error: ").splitlines()[0]):
        print(f"error: {problem}", file=sys.stderr, flush=True)
    raise SystemExit(code) from None


def close_open_sweeps(status: str, reason: str, *, settle_s: float = 10.0) -> list[str]:
    """Close the parent runs this process left open, ``status`` and tag ``ablation.failure``.

    Called when the process ends before the sweep's end (a stop signal, an error in the
    launcher or a callback). The sweep's cells whose processes died with it (joblib workers
    killed by the launcher's abort) are marked KILLED too, once their processes are gone
    (waiting up to ``settle_s``); a cell whose process still lives is left to it, and to
    :func:`ablation.tracking.reap_stale` on the next start. Returns what could not be
    closed, as one line each (a full disk, a store gone).
    """
    problems = []
    for parent_id, uri in list(_OPEN_PARENTS.items()):
        try:
            client = tracking.client_for(uri)
            for run_id in _reap_children(client, parent_id, settle_s):
                tracking.set_tags(client, run_id, {tracking.TAG_FAILURE: f"{reason} (the sweep)"})
            tracking.set_tags(client, parent_id, {tracking.TAG_FAILURE: reason})
            tracking.retry(client.set_terminated, parent_id, status=status)
            _OPEN_PARENTS.pop(parent_id, None)
        except Exception as err:  # the process is ending anyway: say so in one line
            problems.append(
                f"could not mark the sweep's parent run {parent_id} {status} "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                "the next sweep on this machine marks it KILLED"
            )
    return problems


def _reap_children(client, parent_id: str, settle_s: float) -> list[str]:
    """KILLED: the RUNNING cells of this sweep whose processes are gone; their ids."""
    run = tracking.retry(client.get_run, parent_id)
    query = f"tags.`{TAG_PARENT}` = '{parent_id}' and attributes.status = 'RUNNING'"
    mine = str(os.getpid())
    deadline = time.monotonic() + settle_s
    reaped: list[str] = []
    while True:
        running = [
            r
            for r in tracking.search(client, run.info.experiment_id, query)
            if r.data.tags.get(tracking.TAG_PID) != mine
        ]
        stale = tracking.reap_stale(client, run.info.experiment_id, running)
        reaped += stale
        if len(stale) == len(running) or time.monotonic() >= deadline:
            return reaped
        time.sleep(0.2)
