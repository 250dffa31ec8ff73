"""One grid cell: config -> data -> train -> metrics and artifacts in MLflow.

:func:`run_cell` is what every Hydra job calls, with the job's :class:`~ablation.cell.cell.Cell`;
it can also be called directly with a composed config (tests, notebooks). It never trains a
cell twice: a cell whose config hash already has a FINISHED run is skipped, and a cell
another process is training is left to it.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field

from omegaconf import DictConfig
from threadpoolctl import threadpool_info, threadpool_limits

from ablation import tracking
from ablation.cell.cell import Cell
from ablation.cell.task import run_task
from ablation.errors import is_disk_full, one_line
from ablation.naming import format_duration
from ablation.nn import DivergedError
from ablation.run import progress
from ablation.run.artifacts import confusion_matrix, per_class_metrics
from ablation.run.mlp import train
from ablation.run.signals import as_interrupted, deferred, ignore_stop_signals
from ablation.tracking import (
    TAG_CELL,
    TAG_CELL_HASH,
    TAG_FAILURE,
    TAG_OVERRIDES,
    TAG_PARENT,
    TAG_ROLE,
)
from ablation.tracking.schema import METRIC_TOTAL_S, SWEEP_URI_ENV, TAG_BLAS_THREADS, TAG_THREADS

__all__ = ["CellResult", "SweepInfo", "confusion_matrix", "per_class_metrics", "run_cell"]

log = logging.getLogger("ablation")


@dataclass
class CellResult:
    status: str  # FINISHED | FAILED | KILLED | SKIPPED
    run_id: str | None
    label: str
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class SweepInfo:
    """What a job of a sweep knows of the sweep: its parent run, size, start time, host."""

    parent_run_id: str | None
    todo: int = 0
    t0: float = 0.0
    host: str | None = None  # where the sweep runs (its sqlite store is only there)
    uri: str | None = None  # the sweep's store, resolved once by the sweep
    seed_reason: str | None = None  # seeds=auto: why this job runs (a tag of its run)
    varies: tuple[str, ...] | None = None  # what varies in the sweep: the run names show it
    kinds: dict[str, int] = field(default_factory=dict)  # cost kind -> cells to run
    workers: int = 1

    @classmethod
    def from_env_set(cls, env_set) -> SweepInfo:
        """From the job's ``hydra.job.env_set``, where the sweep callback put them."""
        varies = env_set.get(progress.VARIES_ENV)
        return cls(
            parent_run_id=env_set.get(tracking.PARENT_ENV) or None,
            todo=int(env_set.get(tracking.SWEEP_TODO_ENV) or 0),
            t0=float(env_set.get(tracking.SWEEP_T0_ENV) or 0),
            host=env_set.get(tracking.SWEEP_HOST_ENV) or None,
            uri=env_set.get(SWEEP_URI_ENV) or None,
            seed_reason=env_set.get(tracking.SEED_REASON_ENV) or None,
            varies=None if varies is None else tuple(k for k in str(varies).split(",") if k),
            kinds=progress.decode_kinds(env_set.get(progress.KINDS_ENV)),
            workers=int(env_set.get(progress.WORKERS_ENV) or 1),
        )


def run_cell(
    cell: Cell | DictConfig,
    *,
    overrides: list[str] | None = None,
    sweep: SweepInfo | None = None,
    parent_run_id: str | None = None,
    progress: bool = True,
    raise_on_failure: bool = True,
    blas_threads: int | None = None,
) -> CellResult:
    """Train one cell into the store unless it is already done (``rerun`` forces it)."""
    t_start = time.perf_counter()
    if not isinstance(cell, Cell):
        cell = Cell.from_config(cell, overrides or ())
    if sweep is None and parent_run_id:
        sweep = SweepInfo(parent_run_id)
    label = cell.short_name(sweep.varies if sweep else None)  # the run's name in MLflow
    client, exp_id = _open_store(cell, sweep)
    done = None if cell.config.rerun else _finished_run(client, exp_id, cell)
    if done is not None:
        log.info(f"skip {cell.shown}: already FINISHED as run {done.info.run_id}")
        return CellResult("SKIPPED", done.info.run_id, label, dict(done.data.metrics))
    run_id = None
    try:
        with deferred():  # a signal while the run is created is raised once its id is known
            run_id, owner = _claim(client, exp_id, cell, label, _cell_tags(cell, label, sweep))
        if run_id is None:
            log.info(f"skip {cell.shown}: run {owner.info.run_id} has it ({owner.info.status})")
            return CellResult("SKIPPED", owner.info.run_id, label)
        metrics = _train(cell, client, run_id, progress, blas_threads, label)
        _finish(client, run_id, metrics, time.perf_counter() - t_start)
    except Exception as err:
        reason = _failed(client, run_id, err, cell.shown)  # re-raises what is not the cell's
        if raise_on_failure:
            raise
        return CellResult("FAILED", run_id, label, reason=reason)
    except BaseException as err:  # a stop signal (SIGINT, SIGTERM, SIGHUP) or an exit
        # a server gone past tracking.outage_wait_s cannot close it: the next start reaps it
        if run_id is not None and not isinstance(err, tracking.ServerUnreachable):
            _close_stopped(client, run_id, err)
        raise

    _report_done(client, exp_id, cell.shown, metrics, sweep, cell.config.task.metric)
    return CellResult("FINISHED", run_id, label, metrics)


def _open_store(cell: Cell, sweep: SweepInfo | None):
    """``(client, experiment id)`` of the cell's store: in a sweep the one the sweep
    resolved (handed to each job in its config), else ``tracking.uri`` resolved here. Runs
    of killed processes, this cell's or not, are marked KILLED."""
    spec = cell.config
    if sweep and sweep.uri:
        uri = sweep.uri  # checked by the sweep before it launched any job
    else:
        uri = tracking.resolve_uri(spec.tracking.uri)
        tracking.retry(tracking.check_store_file, uri)  # a wrong store: before MLflow loads
    # a job on another host than the sweep's cannot write to the sweep's sqlite file
    sweep_host = sweep.host if sweep else None
    if tracking.sqlite_path(uri) and sweep_host and sweep_host != tracking.HOST:
        raise tracking.TrackingError(
            f"this cell runs on {tracking.HOST}, but the sweep's store is an sqlite file on "
            f"{sweep_host} ({uri}); start an MLflow server (README, Scaling out) and pass "
            "tracking.uri=http://HOST:5000"
        )
    tracking.check_limits([cell])  # a name or value MLflow would refuse: before any run
    # a job of a sweep (which found the server) waits out a server restart from its first
    # store call; a single run fails at once on a server that is not there at all
    in_sweep = sweep is not None and sweep.parent_run_id is not None
    tracking.set_wait(spec.tracking.outage_wait_s if in_sweep else 0)
    client = tracking.client_for(uri)
    tracking.set_wait(spec.tracking.outage_wait_s)
    exp_id = tracking.ensure_experiment(client, uri, spec.experiment_name)
    tracking.reap_stale(client, exp_id)
    return client, exp_id


def _finished_run(client, exp_id: str, cell: Cell):
    """The FINISHED run of the cell's config hash (resume), or None."""
    done = tracking.runs_with_hash(client, exp_id, cell.config_hash, "FINISHED")
    return done[0] if done else None


def _cell_tags(cell: Cell, label: str, sweep: SweepInfo | None) -> dict[str, str]:
    tags = {
        TAG_ROLE: tracking.ROLE_CELL,
        TAG_CELL_HASH: cell.cell_hash,
        TAG_CELL: cell.label,
        TAG_OVERRIDES: " ".join(cell.overrides) or label,
        tracking.TAG_GIT_COMMIT: tracking.git_commit(),
        tracking.TAG_METRIC: cell.config.task.metric,  # how the report and the sweep judge it
        tracking.TAG_GOAL: cell.config.task.goal,
    }
    if cell.config.contrasts:  # declared before the study ran: the report's confirmatory ones
        tags[tracking.TAG_CONTRASTS] = json.dumps(list(cell.config.contrasts))
    if sweep and sweep.parent_run_id:
        tags[TAG_PARENT] = sweep.parent_run_id
    if sweep and sweep.seed_reason:
        tags[tracking.TAG_SEED_REASON] = sweep.seed_reason
    return tags


def _claim(client, exp_id: str, cell: Cell, label: str, tags: dict[str, str]):
    """``(run_id, None)`` when this process trains the cell, ``(None, owner)`` when another
    run has it; ``rerun`` always starts a run."""
    return tracking.claim_cell(
        client, exp_id, cell.config_hash, name=label, tags=tags, always=cell.config.rerun
    )


def _train(
    cell: Cell, client, run_id: str, progress: bool, blas_threads: int | None, label: str
) -> dict:
    """Log the params, then train: the built-in MLP or the user's ``_target_`` (with the
    same run, failure capture and resume); returns the final metrics."""
    tracking.log_params(client, run_id, cell.params)
    threads, blas = _threads(cell, blas_threads)
    tracking.set_tags(client, run_id, {TAG_THREADS: threads, TAG_BLAS_THREADS: blas or "all"})
    with threadpool_limits(limits=blas):
        if cell.is_mlp:
            return train(cell, client, run_id, progress=progress, threads=threads)
        return run_task(cell, client, run_id, progress=progress, name=label)


def _finish(client, run_id: str, metrics: dict, total_s: float) -> None:
    """The job's whole time at the last step, then the run FINISHED."""
    metrics[METRIC_TOTAL_S] = total_s
    buffer = tracking.MetricBuffer(client, run_id)
    buffer.add(metrics["_step"], {METRIC_TOTAL_S: total_s})
    buffer.flush()
    tracking.retry(client.set_terminated, run_id, status="FINISHED")


def _failed(client, run_id: str | None, err: Exception, shown: str) -> str:
    """Close the run of a cell that raised ``err`` and return the reason; re-raise what is
    not the cell's failure (a stop signal turned into another error, no run to close, a
    full disk: every later cell would fail too)."""
    stop = as_interrupted(err)
    if stop is not None:  # a stop signal that library code turned into another error
        if run_id is not None:
            _close_stopped(client, run_id, stop)
        raise stop from None
    if run_id is None:  # the run could not be created: nothing to close
        raise err
    if is_disk_full(err):  # not this cell's fault
        _close_stopped(client, run_id, err)  # FAILED if the store still takes it
        raise err
    reason = _reason(err)
    tracking.set_tags(client, run_id, {TAG_FAILURE: reason})
    tracking.retry(client.log_text, run_id, traceback.format_exc(), "error.txt")
    tracking.retry(client.set_terminated, run_id, status="FAILED")
    log.error(f"FAILED {shown}: {reason}  (run {run_id})")
    return reason


def _close_stopped(client, run_id: str, err: BaseException) -> None:
    """Mark the run of a cell stopped by a signal KILLED (else FAILED), saying why."""
    stop = as_interrupted(err)
    status, reason = ("KILLED", stop.reason) if stop else ("FAILED", _reason(err))
    try:
        with ignore_stop_signals():  # a second signal does not cut the closing short
            tracking.set_tags(client, run_id, {TAG_FAILURE: reason})
            tracking.retry(client.set_terminated, run_id, status=status)
    except Exception as problem:  # e.g. the disk is full: the next start reaps the run
        # a full disk is the cause the caller's error line names: not said twice
        why = "the next start marks it KILLED" if is_disk_full(problem) else _reason(problem)
        log.error(f"could not mark run {run_id} {status}: {why}")


def _reason(err: BaseException) -> str:
    if isinstance(err, DivergedError):
        return f"diverged: {err}"
    if is_disk_full(err):
        return f"a write failed (disk full, file-size limit or disk error): {one_line(err)}"
    return f"{type(err).__name__}: {err}".splitlines()[0][:500]


def _threads(cell: Cell, blas_threads: int | None) -> tuple[int, int | None]:
    """``(MLP threads, BLAS limit)`` for a cell that may use ``blas_threads`` cores.

    A full-batch cell runs its row blocks on one Python thread per core, each
    with one BLAS thread: the elementwise work then uses every core too (~10%
    faster per step than one thread driving a 2-thread BLAS). Since every
    full-batch cell runs with one BLAS thread per Python thread, in turn or side
    by side, its numbers do not depend on the launcher (``MLP`` sums blocks in
    fixed groups). Minibatch cells (one block per step) are faster with the BLAS
    threads.
    """
    cores = blas_threads or max(
        (info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"),
        default=1,
    )
    if cell.is_mlp and cell.full_batch and cores > 1:
        return cores, 1
    return 1, blas_threads


def _report_done(
    client, exp_id: str, label: str, metrics: dict, sweep: SweepInfo | None, metric="test/acc"
):
    """One line per finished cell, with the sweep's progress and time left.

    Accuracies are stored as fractions in [0, 1]; the line shows both: ``0.9733 (97.33%)``.
    A user task's own metric (``task.metric``) comes first.
    """
    keys = dict.fromkeys([metric, "test/acc", "train/acc"])
    shown = [
        f"{k} {_acc(metrics[k])}" if k.endswith("acc") else f"{k} {metrics[k]:.4g}"
        for k in keys
        if k in metrics
    ]
    text = f"done {label}: {'  '.join(shown)}  ({metrics.get(METRIC_TOTAL_S, 0):.1f}s)"
    if sweep and sweep.parent_run_id and sweep.todo:
        query = f"tags.`{TAG_PARENT}` = '{sweep.parent_run_id}'"
        children = tracking.search(client, exp_id, query)
        ended = [r for r in children if r.info.status in ("FINISHED", "FAILED", "KILLED")]
        text = f"[{len(ended)}/{sweep.todo}] {text}"
        left = _time_left(ended, sweep)
        if left:
            text += f"  ~{format_duration(left)} left"
    log.info(text)


def _acc(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f} ({value:.2%})"


def _time_left(ended: list, sweep: SweepInfo) -> float | None:
    """From the cells of this sweep that finished: their median duration by cost kind."""
    finished = [
        (progress.cost_kind(r.data.params), r.data.metrics[METRIC_TOTAL_S])
        for r in ended
        if r.info.status == "FINISHED" and METRIC_TOTAL_S in r.data.metrics
    ]
    remaining = dict(sweep.kinds)
    for run in ended:
        kind = progress.cost_kind(run.data.params)
        if remaining.get(kind):
            remaining[kind] -= 1
    if not remaining:  # kinds unknown: every cell left is like the median cell done
        remaining = {"": sweep.todo - len(ended)}
    if sum(remaining.values()) <= 0:
        return 0.0 if len(ended) >= sweep.todo else None
    return progress.eta_seconds(finished, remaining, sweep.workers)
