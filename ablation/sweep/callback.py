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
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, read_write

from ablation import tracking
from ablation.cell.cell import Cell, varying_keys
from ablation.errors import EXIT_FAILED, ConfigError, exit_status, print_error
from ablation.naming import format_duration
from ablation.run import progress
from ablation.run.signals import as_interrupted, deferred
from ablation.sweep import adaptive, estimate, launcher
from ablation.sweep import summary as sweep_summary
from ablation.sweep.grid import CellBuilder, expand
from ablation.tracking import TAG_CELL, TAG_OVERRIDES, TAG_PARENT, TAG_ROLE, schema

log = logging.getLogger("ablation")

#: Parent runs this process opened and has not closed yet (run id -> store URI): what
#: :func:`close_open_sweeps` closes when the process ends another way than the sweep's end.
_OPEN_PARENTS: dict[str, str] = {}
#: The jobs (override lists) whose configs :func:`expand` composed and validated in this
#: process -> the builder that did: the sweeper does not compose them again to validate them
#: (hydra_plugins/.../checked_sweeper.py), and the auto launcher, running cells in turn, takes
#: each job's config from the builder instead of composing it (auto_launcher.py).
COMPOSED_JOBS: dict[tuple[str, ...], CellBuilder] = {}


def _check_sweep_dir(folder: str) -> None:
    """Hydra creates the sweep's folder only after the parent run exists: check first that
    it can be. Nothing in the way (a file, a link to nothing), and the folders it lacks can
    be made: they are made inside a private probe folder beside them, removed at once (a
    name too long, a read-only or special file system fail there, as they would in Hydra;
    a sweep starting at the same moment is not disturbed)."""
    path = Path(folder).absolute()
    existing = path
    probe = None
    try:
        while not os.path.isdir(existing):  # (Path.is_dir raises on a name too long)
            if os.path.lexists(existing):
                why = "a link to nothing" if existing.is_symlink() else "not a folder"
                raise ConfigError(
                    f"hydra.sweep.dir={folder} cannot be created ({existing} is {why}); "
                    "pass hydra.sweep.dir=a/writable/folder"
                )
            existing = existing.parent
        probe = Path(tempfile.mkdtemp(prefix=".ablation-probe-", dir=existing))
        (probe / path.relative_to(existing) / "probe").mkdir(parents=True)
    except OSError as err:
        raise ConfigError(
            f"hydra.sweep.dir={folder} cannot be created (in {existing}: "
            f"{err.strerror or type(err).__name__}); pass hydra.sweep.dir=a/writable/folder"
        ) from None
    finally:
        if probe is not None:
            shutil.rmtree(probe, ignore_errors=True)


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


def _how(workers: int) -> str:
    if workers == 1:
        return "one at a time, each on every core"
    return f"{workers} at a time"


def _choose_launch(config: DictConfig, cells: list[Cell], todo: list[Cell], adaptive_seeds) -> bool:
    """In turn (each cell on every core) or side by side; tell the auto launcher, which is
    instantiated after this callback from ``hydra.launcher``, and every job."""
    in_turn = launcher.in_turn(cells)
    if not launcher.is_auto(config.hydra.launcher):
        return False
    with read_write(config.hydra.launcher):
        config.hydra.launcher.in_turn = in_turn
        # only the jobs to run are launched (and counted in "Launching k jobs")
        skip = len(todo) < len(cells) and not adaptive_seeds  # its rounds: all new
        config.hydra.launcher.jobs_to_run = [list(c.overrides) for c in todo] if skip else None
    with read_write(config.hydra.overrides.hydra):
        config.hydra.overrides.hydra.append(f"hydra.launcher.in_turn={in_turn}")
    return in_turn


def _hand_to_jobs(config: DictConfig, job_env: dict[str, str]) -> None:
    """Every job gets ``job_env`` in its ``hydra.job.env_set``, whatever the launcher."""
    hydra_overrides = config.hydra.overrides.hydra
    with read_write(hydra_overrides):
        for key, value in job_env.items():
            # quoted: a ',' in a path would make a sweep, an '=' would not parse
            hydra_overrides.append(f"++hydra.job.env_set.{key}={tracking.quote(value)}")


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
        cells, builder = expand(config)
        self.cells = cells
        COMPOSED_JOBS.update(dict.fromkeys((tuple(c.overrides) for c in cells), builder))
        _check_sweep_dir(str(config.hydra.sweep.dir))
        overrides = " ".join(config.hydra.overrides.task) or "(none)"
        sweep_tags = {"the sweep's overrides": overrides, "hydra.sweep.dir": config.hydra.sweep.dir}
        first = cells[0].config
        # the sweep's store, resolved once (the jobs get it in their config); a wrong one is
        # refused before MLflow loads
        self.uri = tracking.resolve_uri(first.tracking.uri)
        tracking.retry(tracking.check_store_file, self.uri)
        tracking.check_limits(cells, sweep_tags)  # before anything is created
        client, done, reaped = self._open_store(first)
        todo = [c for c in cells if first.rerun or c.config_hash not in done]
        adaptive_seeds = adaptive.is_auto(config.hydra.sweeper)  # it may add seeds later
        if not todo and not adaptive_seeds:  # a no-op rerun: no parent run, no jobs launched
            self._nothing_to_run(first, len(cells), reaped)
        in_turn = _choose_launch(config, cells, todo, adaptive_seeds)
        workers = min(_workers(config, in_turn), max(len(todo), 1))
        total, unknown = estimate.estimate(todo, estimate.durations(done), workers)
        varies = varying_keys(cells)
        self._open_parent(client, config, todo, varies)
        _hand_to_jobs(config, self._job_env(todo, varies, workers))
        if reaped:
            log.info(f"marked {len(reaped)} run(s) of dead processes KILLED")
        eta = f"about {format_duration(total / workers)} left" if todo else "nothing to do"
        if unknown:
            eta = (f"{eta} plus " if total else "") + f"{unknown} cell(s) of unknown time"
        what = "first round of seeds=auto, " if adaptive_seeds else ""
        log.info(
            f"sweep '{first.experiment_name}': {what}{len(cells)} cells, {len(cells) - len(todo)} "
            f"already FINISHED, {len(todo)} to run {_how(workers)}; {eta}\n"
            f"  store {self.uri}  parent run {self.parent_id}"
        )

    def _open_store(self, first) -> tuple[Any, dict[str, Any], list]:
        """Open the sweep's store (``self.uri``) and its experiment, mark runs of dead
        processes KILLED; the FINISHED runs by config hash."""
        client = tracking.client_for(self.uri)  # fails at once on a server that is not there
        tracking.set_wait(first.tracking.outage_wait_s)  # from here, an outage is waited out
        self.exp_id = tracking.ensure_experiment(client, self.uri, first.experiment_name)
        reaped = tracking.reap_stale(client, self.exp_id)
        return client, tracking.finished_hashes(client, self.exp_id), reaped

    def _nothing_to_run(self, first, n_cells: int, reaped: list) -> None:
        if reaped:
            log.info(f"marked {len(reaped)} run(s) of dead processes KILLED")
        log.info(
            f"sweep '{first.experiment_name}': all {n_cells} cells already FINISHED; "
            f"nothing to run (rerun=true trains again)\n  store {self.uri}"
        )
        raise SystemExit(0)

    def _open_parent(self, client, config: DictConfig, todo: list[Cell], varies: list) -> None:
        """The sweep's ONE parent run, noted to be closed whatever ends the process."""
        overrides = " ".join(config.hydra.overrides.task) or "(none)"
        with deferred():  # a signal now is raised once the parent is noted, to be closed
            self.parent_id = tracking.start_run(
                client,
                self.exp_id,
                # what the sweep varies, first: the runs table cuts long names
                name=f"sweep {' x '.join(varies) or 'of 1 cell'} {time.strftime('%m-%d %H:%M')}",
                tags={
                    TAG_ROLE: tracking.ROLE_SWEEP,
                    TAG_OVERRIDES: overrides,
                    schema.TAG_N_CELLS: str(len(self.cells)),
                    schema.TAG_N_TODO: str(len(todo)),
                    tracking.TAG_GIT_COMMIT: tracking.git_commit(),
                    schema.TAG_SWEEP_DIR: str(config.hydra.sweep.dir),
                },
            )
            _OPEN_PARENTS[self.parent_id] = self.uri
        command = sweep_summary.command_line()
        sweep_summary.describe_start(client, self.parent_id, command, self.cells, len(todo), varies)

    def _job_env(self, todo: list[Cell], varies: list, workers: int) -> dict[str, str]:
        """What every job reads from its own config (``hydra.job.env_set``; Hydra also sets
        them in the job's environment, for the processes a job starts)."""
        return {
            # what varies names the runs; the cost kinds and workers give the time left
            progress.VARIES_ENV: ",".join(varies),
            progress.KINDS_ENV: progress.encode_kinds(progress.cost_kind(c.params) for c in todo),
            progress.WORKERS_ENV: str(workers),
            tracking.PARENT_ENV: self.parent_id,
            tracking.SWEEP_TOTAL_ENV: str(len(self.cells)),
            tracking.SWEEP_TODO_ENV: str(len(todo)),
            tracking.SWEEP_T0_ENV: f"{time.time():.3f}",
            # the parent's store, resolved here once: a cell on a Ray or Slurm worker has
            # another working directory, and a relative tracking.uri would move
            schema.SWEEP_URI_ENV: self.uri,
            tracking.SWEEP_HOST_ENV: tracking.HOST,
        }

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
                schema.TAG_N_FINISHED: finished,
                schema.TAG_N_FAILED: len(failed),
                schema.TAG_FAILED_CELLS: "\n".join(lines)[:5000] or "none",
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
    print_error(message)
    for problem in close_open_sweeps("FAILED", message.removeprefix("error: ").splitlines()[0]):
        print_error(f"error: {problem}")
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
        except (Exception, tracking.ServerUnreachable) as err:  # ending anyway: one line
            why = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            if isinstance(err, tracking.ServerUnreachable):
                why = "the MLflow server does not answer"
            problems.append(
                f"could not mark the sweep's parent run {parent_id} {status} ({why}); "
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
