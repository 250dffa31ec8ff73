"""A stop signal at any moment of a cell's life stops the process, whatever the process was
doing: here, at chosen moments inside the store writes of a cell (the run's creation, its
params, its tags, its metrics), where a signal once landed inside SQLAlchemy with a write
transaction open. The process then held sqlite's write lock while it tried to mark its run
KILLED, waited 8 x 20 s for itself, printed nothing, and left the run RUNNING.

The moment is chosen by a real SQLAlchemy event listener in the real CLI process, which
sends the real SIGTERM to its own process right after the N-th write statement of the cell
(counted from the INSERT of its run): the signal's handler then runs inside SQLAlchemy,
before the transaction commits, as a ``kill`` arriving then would.
"""

from __future__ import annotations

import os
import signal
import textwrap

import pytest

from tests.reliability.store_checks import assert_unchanged, seed_store, store_with_an_earlier_run
from tests.reliability.support import started

#: A short cell: its metrics are written at the end of the fit (the buffer's flush).
CELL = ["data=digits", "optim.iterations=3000", "optim.eval_every=1000"]
HOOK = "signal_at_store_write"
#: id -> (signal, the N-th write of the cell after which it is sent, what that write is)
MOMENTS = {
    "creating-the-run-SIGTERM": (signal.SIGTERM, 2, "INSERT INTO tags"),
    "taking-the-claim-ticket-SIGTERM": (signal.SIGTERM, 3, "INSERT INTO tags"),
    "logging-params-SIGTERM": (signal.SIGTERM, 4, "INSERT INTO params"),
    "setting-tags-SIGTERM": (signal.SIGTERM, 6, "INSERT INTO tags"),
    "logging-metrics-SIGTERM": (signal.SIGTERM, 8, "INSERT INTO metrics"),
    "logging-latest-metrics-SIGINT": (signal.SIGINT, 9, "INSERT INTO latest_metrics"),
}
#: Far less than the 160 s the process waited for its own lock, far more than it needs.
STOP_WITHIN_S = 60


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A store with a finished run of another study (it must stay as it was)."""
    return store_with_an_earlier_run(tmp_path_factory.mktemp("signal-timing-study"))


@pytest.fixture(scope="module")
def hook_dir(tmp_path_factory):
    """A module that runs ``python -m ablation`` with the SQLAlchemy listener that sends
    the signal (``SIGNAL_AT_WRITE=N:signum``) right after the cell's N-th write."""
    folder = tmp_path_factory.mktemp("hook")
    (folder / f"{HOOK}.py").write_text(
        textwrap.dedent(
            """
            import os, runpy, sys
            from sqlalchemy import event
            from sqlalchemy.engine import Engine

            at, signum = map(int, os.environ["SIGNAL_AT_WRITE"].split(":"))
            seen = {"run": False, "writes": 0}

            @event.listens_for(Engine, "after_cursor_execute")
            def after_write(conn, cursor, statement, parameters, context, executemany):
                if statement.startswith("INSERT INTO runs "):
                    seen["run"] = True
                if not seen["run"] or not (context.isinsert or context.isupdate):
                    return
                seen["writes"] += 1
                if seen["writes"] == at:
                    print(f"signal {signum} after write {at}: {statement[:40]}", flush=True)
                    os.kill(os.getpid(), signum)

            runpy.run_module("ablation", run_name="__main__", alter_sys=True)
            """
        )
    )
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("moment", MOMENTS, ids=list(MOMENTS))
def test_a_signal_inside_a_store_write_kills_the_cell_and_exits_at_once(
    moment, study, hook_dir, workdir
):
    signum, at, write = MOMENTS[moment]
    before = seed_store(study, workdir)
    path = os.pathsep.join(p for p in (str(hook_dir), os.environ.get("PYTHONPATH")) if p)
    env = {"PYTHONPATH": path, "SIGNAL_AT_WRITE": f"{at}:{int(signum)}"}
    with started(CELL, cwd=workdir, module=HOOK, env=env) as (proc,):
        code = proc.wait(timeout=STOP_WITHIN_S)
    output = proc.output
    assert f"signal {int(signum)} after write {at}: {write}" in output, output[-3000:]
    assert code == 128 + signum, output[-3000:]
    assert "Traceback" not in output and "Exception ignored" not in output, output[-3000:]
    assert "could not mark" not in output, output[-3000:]
    name = "Ctrl-C, SIGINT" if signum == signal.SIGINT else signal.Signals(signum).name
    assert output.strip().splitlines()[-1] == f"stopped: interrupted ({name})", output[-2000:]

    added = assert_unchanged(before, workdir)
    assert [(role, status) for role, status, _ in added.values()] == [("cell", "KILLED")]
    assert [failure for _, _, failure in added.values()] == [f"interrupted ({name})"]
