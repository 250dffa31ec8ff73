"""Concurrency: sweeps started at the same moment into one fresh sqlite store, with
disjoint and with the same cells. Nothing is lost, no cell is FINISHED twice, and no
process dies of 'database is locked'."""

from __future__ import annotations

import pytest

from tests.reliability.support import (
    active,
    assert_store_consistent,
    by_status,
    runs,
    started,
)

# no sweep-end report: these tests look at runs only (test_dashboard covers the report)
CELL = ["data=digits", "optim.iterations=200", "optim.eval_every=20", "report=false"]
CRASH_SIGNS = ("database is locked", "Traceback", "Error executing job", "raised OperationalError")


def _run_together(workdir, *grids) -> list:
    with started(*grids, cwd=workdir) as procs:
        codes = [p.wait(timeout=300) for p in procs]
    for proc, code in zip(procs, codes, strict=True):
        assert code == 0, proc.tail()
        for sign in CRASH_SIGNS:
            assert sign not in proc.output, f"{sign!r} in the output of {proc.args}:\n{proc.tail()}"
    return procs


@pytest.mark.slow
def test_two_sweeps_start_at_once_into_one_fresh_store(workdir):
    procs = _run_together(
        workdir,
        ["-m", *CELL, "init=random,kaiming", "seed=0,1"],
        ["-m", *CELL, "init=xavier", "seed=0,1,2,3"],
    )
    assert_store_consistent(workdir, n_cells=8)
    sweeps = runs(workdir, role="sweep")
    assert sorted(r.info.status for r in sweeps) == ["FINISHED", "FINISHED"]
    assert sum(p.output.count("] done ") for p in procs) == 8


@pytest.mark.slow
def test_overlapping_sweeps_of_the_same_cells_train_each_cell_once(workdir):
    # the same six cells, one sweep in order and one in reverse with two worker
    # processes: three writers meet in the middle of the grid
    procs = _run_together(
        workdir,
        ["-m", *CELL, "init=random,kaiming,xavier", "seed=0,1"],
        [
            "-m",
            *CELL,
            "init=xavier,kaiming,random",
            "seed=1,0",
            "hydra/launcher=local",
            "hydra.launcher.n_jobs=2",
        ],
    )
    assert_store_consistent(workdir, n_cells=6)
    trained = sum(p.output.count("] done ") for p in procs)
    assert trained == 6, "every cell trained by exactly one of the sweeps"
    cells = runs(workdir, role="cell")
    # a sweep that lost the race for a cell deleted its run (and closed it first)
    assert len(by_status(active(cells), "FINISHED")) == len(active(cells)) == 6
