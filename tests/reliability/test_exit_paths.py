"""Every way ``python -m ablation`` ends, with its exact exit status and one clear line.

Bad input on the command line (an unknown group option or key, a bad value or syntax, a bad
launcher setting): exit 2, first line ``error: ...`` (Hydra's list of valid options may
follow, indented), no traceback, no HYDRA_FULL_ERROR hint, no run created, the store as it
was. A failure after the sweep's parent run exists (in the launcher, a full disk): exit 1,
one ``error:`` line, the parent closed FAILED, nothing left RUNNING once the same command
runs again.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import zygote
from tests.reliability.store_checks import (
    assert_unchanged,
    integrity,
    run_table,
    seed_store,
    store_with_an_earlier_run,
)
from tests.reliability.support import TEST_ENV, db_path

QUICK = ["data=digits", "optim.iterations=20", "optim.eval_every=10"]

#: id -> (command line, text the first line must contain)
BAD_INPUT = {
    "unknown-init": (["init=kaimng"], "Could not find 'init/kaimng'"),
    "unknown-key": (["foo=1"], "Could not override 'foo'"),
    "unknown-optim": (["optim=nope"], "Could not find 'optim/nope'"),
    "unknown-launcher": (["hydra/launcher=nope"], "Could not find 'hydra/launcher/nope'"),
    "wrong-type": (["seed=abc"], "seed=abc"),
    "bad-syntax": (["optim.lr=("], "Error parsing override 'optim.lr=('"),
    "sweep-unknown-init": (["-m", "init=kaimng,random"], "Could not find 'init/kaimng'"),
    "sweep-unknown-key": (["-m", "foo=1,2"], "Could not override 'foo'"),
    "sweep-unknown-optim": (["-m", "optim=gd,nope"], "Could not find 'optim/nope'"),
    "sweep-unknown-launcher": (["-m", "seed=0,1", "hydra/launcher=nope"], "hydra/launcher/nope"),
    "sweep-no-workers": (
        ["-m", "seed=0,1", "hydra/launcher=local", "hydra.launcher.n_jobs=0"],
        "hydra.launcher.n_jobs=0 is invalid",
    ),
    "sweep-dir-not-a-folder": (
        ["-m", "seed=0,1", "hydra.sweep.dir=a_file/sweep"],
        "hydra.sweep.dir=a_file/sweep cannot be created",
    ),
}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A store that already holds a finished run (it must stay as it was)."""
    return store_with_an_earlier_run(tmp_path_factory.mktemp("exit-paths-study"))


def _run(args, cwd, env=None, preexec_fn=None, timeout=300) -> subprocess.CompletedProcess:
    return zygote.run(
        [sys.executable, "-m", "ablation", *args],
        cwd=cwd,
        env={**os.environ, **TEST_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec_fn,
    )


@pytest.fixture(scope="module")
def bad_input(study, tmp_path_factory, data_cache):
    """Run every bad-input case once, three at a time: id -> (result, runs before, folder)."""
    root = tmp_path_factory.mktemp("exit-paths")
    env = {"ABLATION_CACHE_DIR": str(data_cache), "MLFLOW_TRACKING_URI": ""}

    def run(case):
        folder = root / case
        folder.mkdir()
        (folder / "a_file").write_text("not a folder")
        before = seed_store(study, folder)
        args = BAD_INPUT[case][0]
        multirun = args[:1] == ["-m"]
        full = ["-m", *QUICK, *args[1:]] if multirun else [*QUICK, *args]
        return case, (_run(full, folder, env), before, folder)

    with ThreadPoolExecutor(3) as pool:
        return dict(pool.map(run, BAD_INPUT))


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD_INPUT, ids=list(BAD_INPUT))
def test_bad_input_exits_2_with_one_error_line_and_creates_nothing(case, bad_input):
    result, before, folder = bad_input[case]
    said = result.stderr + result.stdout
    assert result.returncode == 2, said[-3000:]
    lines = [line for line in result.stderr.splitlines() if "mlflow.store.db" not in line]
    assert lines[0].startswith("error: ") and BAD_INPUT[case][1] in lines[0], said[-3000:]
    assert all(line.startswith("  ") for line in lines[1:]), said[-3000:]  # only the options
    assert "HYDRA_FULL_ERROR" not in said and "Traceback" not in said, said[-3000:]
    assert assert_unchanged(before, folder) == {}  # no run created, the old one untouched


@pytest.mark.slow
def test_an_unknown_option_keeps_hydras_list_of_valid_options(bad_input):
    lines = bad_input["unknown-init"][0].stderr.splitlines()
    assert lines[:5] == [
        "error: In 'config': Could not find 'init/kaimng'",
        "  Available options in 'init':",
        "    kaiming",
        "    random",
        "    xavier",
    ], lines
    assert not any("search path" in line.lower() for line in lines)


@pytest.mark.slow
def test_a_failure_in_the_launcher_closes_the_parent_failed_and_exits_1(study, workdir):
    before = seed_store(study, workdir)
    # joblib evaluates pre_dispatch as an expression, inside the launcher: after the parent
    args = ["-m", *QUICK, "seed=0,1", "hydra/launcher=local", "hydra.launcher.pre_dispatch=nope"]
    result = _run(args, workdir)
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: ValueError: 'nope' is not a valid or supported arithmetic expression."
    ]
    assert "Traceback" not in result.stderr + result.stdout
    added = assert_unchanged(before, workdir)
    assert list(added.values()) == [("sweep", "FAILED", errors[0].removeprefix("error: "))]


def _file_size_limit(limit: int):
    def apply() -> None:  # in the child: a write past `limit` bytes fails with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.mark.slow
@pytest.mark.parametrize("multirun", [False, True], ids=["run", "sweep"])
def test_a_full_disk_is_one_line_and_the_next_run_cleans_up(multirun, study, workdir):
    before = seed_store(study, workdir)
    many_metrics = ["data=digits", "optim.iterations=300", "optim.eval_every=1"]
    args = ["-m", *many_metrics, "seed=0,1,2", "hydra/launcher=basic"] if multirun else many_metrics
    # no free pages in the store, and it cannot grow: the first cell's metrics do not fit
    with sqlite3.connect(db_path(workdir)) as con:
        con.execute("vacuum")
    before = assert_unchanged(before, workdir) or before
    limit = db_path(workdir).stat().st_size
    result = _run(args, workdir, preexec_fn=_file_size_limit(limit))
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-3000:]
    said = result.stdout + result.stderr
    assert "Traceback" not in said, said[-4000:]
    # one line, and the sweep stops at the first cell that cannot be written
    lines = [line for line in said.splitlines() if "a write failed" in line]
    assert len(lines) == 1, said[-3000:]
    assert lines[0].startswith("error: a write failed (disk full, file-size limit or disk error)")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) <= 2, errors  # the cause, and perhaps the parent it could not close
    assert "FAILED data=" not in said and said.count("Launching") <= 1
    assert integrity(workdir) == "ok"
    assert_unchanged(before, workdir)

    # the same command without the limit: whatever was left RUNNING is reaped, all is done
    again = _run(args, workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    after = assert_unchanged(before, workdir)
    assert "RUNNING" not in {status for _, status, _ in after.values()}
    finished = [v for v in after.values() if v[:2] == ("cell", "FINISHED")]
    assert len(finished) == (3 if multirun else 1)
    assert integrity(workdir) == "ok" and len(run_table(workdir)) >= len(before) + len(finished)
