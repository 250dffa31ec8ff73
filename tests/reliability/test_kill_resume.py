"""Kill and resume: SIGKILL a real sweep's process group at several moments, rerun the same
command each time, and check that the store ends complete: one FINISHED run per cell,
nothing FINISHED with missing metrics or artifacts, nothing left RUNNING."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time

import pytest

from ablation import tracking
from tests.conftest import cli
from tests.reliability.support import (
    TEST_ENV,
    Proc,
    active,
    assert_store_consistent,
    by_status,
    cell_runs,
    client,
    db_path,
    runs,
    started,
)

# 6 cells of about a second each: long enough to be caught mid-cell, short enough for CI
GRID = [
    "-m",
    "data=digits",
    "init=random,kaiming,xavier",
    "seed=0,1",
    "optim.iterations=500",
    "optim.eval_every=50",
    "hydra/launcher=basic",  # one cell at a time, so each kill has one cell in flight
    "report=false",  # the store is what is checked; no report at the end of each rerun
]
N_CELLS = 6


def _live_cells(workdir, status):
    return by_status(active(cell_runs(workdir)), status)


def _cells_in_sql(
    workdir, status: str, with_metric: str | None = None, what: str = "count(distinct r.run_uuid)"
):
    """Active cell runs with ``status`` (and a logged ``with_metric``), read from the store's
    sqlite file directly, read-only: ``what`` of them (their number; None when unreadable
    and ``what`` is not the number)."""
    counting = what.startswith("count(")
    db = db_path(workdir)
    if not db.exists():
        return 0 if counting else None
    query = (
        f"select {what} from runs r join tags t on t.run_uuid = r.run_uuid "
        "and t.key = ? and t.value = ? "
        + ("join latest_metrics m on m.run_uuid = r.run_uuid and m.key = ? " if with_metric else "")
        + "where r.status = ? and r.lifecycle_stage = 'active'"
    )
    args = [tracking.TAG_ROLE, tracking.ROLE_CELL, *([with_metric] if with_metric else []), status]
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            return con.execute(query, args).fetchone()[0]
    except sqlite3.OperationalError:  # schema not there yet, or locked for a moment
        return 0 if counting else None


def _after(seconds: float, condition):
    """A predicate that holds ``seconds`` after ``condition`` first held."""
    since: list[float] = []

    def ready(proc: Proc) -> bool:
        if not since and condition(proc):
            since.append(time.monotonic())
        return bool(since) and time.monotonic() - since[0] >= seconds

    return ready


def _kill_when(workdir, moment: str, ready, then=None) -> list:
    """Start the sweep, SIGKILL its process group once ``ready(proc)`` (and then ``then(proc)``).

    Returns the cell runs left RUNNING.
    """
    with started(GRID, cwd=workdir) as (proc,):
        proc.wait_until(lambda: ready(proc), moment)
        if then is not None:
            proc.wait_until(lambda: then(proc), moment)
        proc.kill_group()
        assert not proc.group_members(settle=10), f"processes survived the kill {moment}"
    return _live_cells(workdir, "RUNNING")


@pytest.mark.slow
def test_sigkill_at_four_moments_then_rerun_trains_every_cell_exactly_once(workdir, monkeypatch):
    # 1. a fresh store, killed while MLflow builds its schema: the store must not be left
    #    half-built (MLflow could never open it again). An empty cache folder: no template
    #    store to copy, so MLflow runs its migrations, as for a user's first store
    data_cache = os.environ["ABLATION_CACHE_DIR"]
    monkeypatch.setenv("ABLATION_CACHE_DIR", str(workdir / "empty-cache"))

    def mid_transaction(p):
        folder = db_path(workdir).parent
        return folder.is_dir() and any(f.name.endswith("-journal") for f in folder.iterdir())

    left = _kill_when(
        workdir,
        "while the store is created",
        _after(0.3, lambda p: "Creating initial MLflow database tables" in p.output),
        then=mid_transaction,
    )
    assert left == [] and not runs(workdir, role="sweep")
    monkeypatch.setenv("ABLATION_CACHE_DIR", data_cache)

    # 2. before the first cell ends
    left = _kill_when(
        workdir,
        "while the first cell runs",
        lambda p: bool(_live_cells(workdir, "RUNNING")),
    )
    assert len(left) == 1 and not _live_cells(workdir, "FINISHED")
    killed = {left[0].info.run_id}

    # 3. in the middle: three cells done, the fourth training for a moment already. Read from
    #    the sqlite file too (see 4.): a cell lasts about a second, and through MLflow's
    #    client the fourth could finish between the look and the kill on a loaded machine
    def mid_cell(p):
        if _cells_in_sql(workdir, "FINISHED") < 3:
            return False
        started_ms = _cells_in_sql(workdir, "RUNNING", what="min(r.start_time)")
        return started_ms is not None and time.time() * 1000 - started_ms > 500

    left = _kill_when(workdir, "in the middle of the sweep", mid_cell)
    assert len(left) == 1 and len(_live_cells(workdir, "FINISHED")) == 3
    # the run killed before was reaped when this sweep started, not left RUNNING
    status = {r.info.run_id: r for r in cell_runs(workdir)}
    for run_id in killed:
        assert status[run_id].info.status == "KILLED"
        assert status[run_id].data.tags[tracking.TAG_FAILURE] == "killed: its process died"
    killed.add(left[0].info.run_id)

    # 4. during the last cell, after training, while its figures and artifacts are written.
    #    That window is short (about a second), so the moment is read straight from the
    #    sqlite file (a millisecond) rather than through MLflow's client, whose search can
    #    take longer than the window on a loaded machine; the checks below use the client.
    def last_cell_writing(p):
        return _cells_in_sql(workdir, "FINISHED") >= N_CELLS - 1 and bool(
            _cells_in_sql(workdir, "RUNNING", with_metric="time/fit_s")
        )

    left = _kill_when(workdir, "while the last cell writes its artifacts", last_cell_writing)
    assert len(left) == 1 and "time/fit_s" in left[0].data.metrics
    assert len(_live_cells(workdir, "FINISHED")) == N_CELLS - 1
    killed.add(left[0].info.run_id)

    # the same command once more: only the killed cell is trained, the store ends complete
    final = cli(*GRID, cwd=workdir, env=TEST_ENV)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert f"{N_CELLS - 1} already FINISHED, 1 to run" in final.stdout
    assert "marked 2 run(s) of dead processes KILLED" in final.stdout  # the cell and its sweep
    assert_store_consistent(workdir, N_CELLS)
    status = {r.info.run_id: r.info.status for r in cell_runs(workdir)}
    assert {status[run_id] for run_id in killed} == {"KILLED"}

    sweeps = sorted(runs(workdir, role="sweep"), key=lambda r: r.info.start_time)
    assert [r.info.status for r in sweeps] == ["KILLED"] * 3 + ["FINISHED"]


@pytest.mark.slow
def test_sigkill_of_a_parallel_sweep_kills_its_workers_and_resumes(workdir):
    grid = [
        *GRID[:2],
        "init=random,kaiming",
        *[arg for arg in GRID[3:] if not arg.startswith("hydra/launcher=")],
        "hydra/launcher=local",
        "hydra.launcher.n_jobs=2",
    ]
    with started(grid, cwd=workdir) as (proc,):
        # both workers inside a cell
        proc.wait_until(lambda: len(_live_cells(workdir, "RUNNING")) == 2, "two cells running")
        members = proc.group_members()
        assert len(members) >= 3, "expected the sweep and its two workers in one group"
        proc.kill_group()
        assert not proc.group_members(settle=10)
    left = _live_cells(workdir, "RUNNING")
    assert len(left) == 2

    final = cli(*grid, cwd=workdir, env=TEST_ENV)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    assert_store_consistent(workdir, n_cells=4)
    status = {r.info.run_id: r.info.status for r in cell_runs(workdir)}
    assert {status[r.info.run_id] for r in left} == {"KILLED"}


@pytest.mark.slow
def test_running_run_whose_pid_was_reused_is_reaped_not_waited_for(workdir):
    """A run's process died and another process got its pid: the cell must not stay blocked."""
    args = ["data=digits", "optim.iterations=5"]
    first = cli(*args, cwd=workdir, env=TEST_ENV)
    assert first.returncode == 0, first.stderr[-3000:]
    (done,) = cell_runs(workdir)
    c = client(workdir)
    c.delete_run(done.info.run_id)
    # a RUNNING run of that cell, "owned" by a live process (this one) that started at
    # another time than the process recorded: the pid was reused
    ghost = c.create_run(
        done.info.experiment_id,
        tags={
            **{k: v for k, v in done.data.tags.items() if not k.startswith("mlflow.")},
            tracking.TAG_HOST: tracking.HOST,
            tracking.TAG_PID: str(os.getpid()),
            tracking.TAG_PID_START: "1",
        },
    ).info.run_id

    again = cli(*args, cwd=workdir, env=TEST_ENV)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skip" not in again.stdout
    assert c.get_run(ghost).info.status == "KILLED"
    assert len(_live_cells(workdir, "FINISHED")) == 1
