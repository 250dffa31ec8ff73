"""Stop signals: SIGTERM (``kill``, Slurm's time limit), SIGINT (Ctrl-C) and SIGHUP (a closed
terminal) sent to a real run or sweep while a cell trains. The process exits with 128 + the
signal, prints one line and no traceback; the running cell and the sweep's parent run are
KILLED with the signal named in ``ablation.failure``; no run is left RUNNING, no process is
left behind, the runs that were in the store before are untouched and the store is sound."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.reliability.store_checks import (
    assert_unchanged,
    running_cells,
    seed_store,
    store_with_an_earlier_run,
)
from tests.reliability.support import started

LONG_CELL = ["data=digits", "optim.iterations=100000", "optim.eval_every=1000"]
SWEEP = ["-m", *LONG_CELL, "seed=0,1"]

CASES = {
    # id: (command line, signal, to the whole process group (a terminal, Slurm) or the pid)
    "run-SIGTERM": (LONG_CELL, signal.SIGTERM, False),
    "run-SIGINT": (LONG_CELL, signal.SIGINT, True),
    "run-SIGHUP": (LONG_CELL, signal.SIGHUP, True),
    "sweep-in-turn-SIGTERM": ([*SWEEP, "hydra/launcher=basic"], signal.SIGTERM, False),
    "sweep-in-turn-SIGINT": ([*SWEEP, "hydra/launcher=basic"], signal.SIGINT, True),
    # joblib workers: the signal to the sweep only (kill PID) or to every process (Slurm)
    "sweep-local-SIGTERM-pid": ([*SWEEP, "hydra/launcher=local"], signal.SIGTERM, False),
    "sweep-local-SIGTERM-group": ([*SWEEP, "hydra/launcher=local"], signal.SIGTERM, True),
    "sweep-local-SIGINT-group": ([*SWEEP, "hydra/launcher=local"], signal.SIGINT, True),
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A store that already holds a finished run of another study (must stay as it was)."""
    return store_with_an_earlier_run(tmp_path_factory.mktemp("signals-study"))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_stop_signal_kills_the_cell_and_the_sweep_and_exits_128_plus_signal(case, study, workdir):
    args, signum, to_group = CASES[case]
    before = seed_store(study, workdir)
    sweep = args[0] == "-m"
    with started(args, cwd=workdir) as (proc,):
        # every cell of a parallel sweep trains: the kill finds both workers busy
        n = 2 if "hydra/launcher=local" in args else 1
        proc.wait_until(lambda: running_cells(workdir) >= n, "a cell training")
        if to_group:
            os.killpg(proc.pgid, signum)
        else:
            proc.popen.send_signal(signum)
        code = proc.wait(timeout=120)
        assert not proc.group_members(settle=15), "processes outlived the sweep"
    output = proc.output
    assert code == 128 + signum, output[-3000:]
    assert "Traceback" not in output and "Exception ignored" not in output, output[-3000:]
    last = output.strip().splitlines()[-1]
    assert last == f"stopped: interrupted ({_named(signum)})", output[-2000:]

    added = assert_unchanged(before, workdir)
    roles = sorted(role for role, _, _ in added.values())
    assert roles == (["cell"] * n + ["sweep"] if sweep else ["cell"])
    assert {status for _, status, _ in added.values()} == {"KILLED"}
    for role, _, failure in added.values():
        assert failure.startswith(f"interrupted ({_named(signum)})"), (role, failure)


def _named(signum: int) -> str:
    return {
        signal.SIGINT: "Ctrl-C, SIGINT",
        signal.SIGTERM: "SIGTERM",
        signal.SIGHUP: "SIGHUP: the terminal was closed",
    }[signum]


def test_a_signal_during_a_finaliser_is_raised_again_not_lost(tmp_path):
    """Python drops an exception raised in a __del__ or a weakref callback: a stop signal
    arriving there must still stop the process (it would otherwise train on)."""
    script = textwrap.dedent(
        """
        import os, signal, time
        from ablation.run.signals import Interrupted, raise_on_stop_signals

        class SendsTermWhileFinalised:
            def __del__(self):
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.2)  # the handler runs here, in __del__: its exception is dropped

        with raise_on_stop_signals():
            try:
                SendsTermWhileFinalised()
                for _ in range(50):
                    time.sleep(0.1)
                print("not stopped")
            except Interrupted as err:
                print("stopped", err.signum, err.exit_code)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["stopped", str(int(signal.SIGTERM)), "143"], out
    assert "Traceback" not in out.stderr, out.stderr
