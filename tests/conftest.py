"""Shared fixtures: a real MLflow sqlite store in a temp dir and a way to run the CLI."""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import zygote

REPO = Path(__file__).resolve().parent.parent
# two cells, the second one diverges (lr 1e4): the failure scenario, on any launcher
FAILING_SWEEP = [
    "-m",
    "data=digits",
    "init=random",
    "optim.lr=0.01,1e4",
    "optim.iterations=30",
    "optim.eval_every=1",
]


def pytest_configure(config):
    """Under pytest-xdist the workers share the cores: one BLAS thread per process, for this
    worker's own tests and (ABLATION_BLAS_THREADS, unless set) every process a test starts, as
    the package's side-by-side jobs do. A BLAS thread waiting for a busy core spins: the small
    matrices of the in-process training tests took ~10x their CPU with two (test_nn_train:
    9.7 s against 1.0 s). Tests of the thread settings set their own (threadpool_limits,
    monkeypatch)."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        from threadpoolctl import threadpool_limits

        os.environ.setdefault("ABLATION_BLAS_THREADS", "1")
        threadpool_limits(limits=1)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """One decoded-MNIST cache for the whole session, outside the user's cache.

    Under pytest-xdist the workers share it (the session's base folder is their common
    parent): the cache writes atomically, so MNIST is decoded once, not once per worker.
    """
    if os.environ.get("ABLATION_TEST_CACHE"):
        return Path(os.environ["ABLATION_TEST_CACHE"])
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    path = root / "data-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def workdir(tmp_path, data_cache, monkeypatch) -> Path:
    """A fresh working directory whose ./mlruns is the store; the user's env is not used."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("ABLATION_CACHE_DIR", str(data_cache))
    return tmp_path


def cli(
    *args: str,
    cwd: Path,
    module: str = "ablation",
    timeout: float = 600,
    env=None,
    python: str = sys.executable,
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args`` as a user would, in ``cwd``: a process forked from a
    warm interpreter (tests/zygote.py) unless it needs a fresh one."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return zygote.run(
        [python, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def report_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m ablation.report args`` in this process: the same ``main`` (argument
    parsing, exit status, the lines it prints), without a new interpreter importing pandas,
    statsmodels and MLflow for each call (~2.5 s of CPU). For tests about the report's
    content; tests about processes (signals, limits, the environment) use ``cli``. ``env``:
    variables set for the call only, as ``cli`` sets them for its process."""
    from ablation.report.__main__ import main  # pandas, statsmodels: only where a test needs it

    out, err = io.StringIO(), io.StringIO()
    with (
        pytest.MonkeyPatch.context() as patch,
        contextlib.chdir(cwd),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        for key, value in (env or {}).items():
            patch.setenv(key, value)
        code = main(list(args))
    return subprocess.CompletedProcess(
        ["ablation.report", *args], code, out.getvalue(), err.getvalue()
    )


def store_uri(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"


# -- running in parallel (pytest-xdist; ``make test``: ``-n auto --dist loadfile``) ------------

#: Modules whose tests send signals at chosen moments, kill process groups or stop servers:
#: with ``-n``, they run on one worker, one after another, never two at once.
SERIAL_GROUPS = {
    "signals": (
        "tests/reliability/test_signals.py",
        "tests/reliability/test_signal_timing.py",
        "tests/reliability/test_kill_resume.py",
        "tests/reliability/test_scale.py",
        "tests/integration/test_ui.py",
        "tests/unit/test_signals.py",
    ),
}
#: Modules whose tests share no module fixture and each run their own sweeps: with ``-n``,
#: each test is a unit of work of its own (any worker may take it).
SPREAD = (
    "tests/integration/test_app.py",
    "tests/integration/test_report_figures.py",
    "tests/integration/test_report_design.py",
    "tests/integration/test_goal.py",
    "tests/integration/test_seeds_auto.py",
    "tests/integration/test_user_task.py",
    "tests/integration/test_extending.py",
    "tests/reliability/test_concurrency.py",
)
#: The longest groups and modules, handed out first so that no worker picks up a long one at
#: the end; the rest follow in collection order. CPU seconds with the processes they start,
#: measured 2026-12 (serial suite ~1150): signals ~210, test_app ~170, store_safety ~120,
#: bad_input ~70, report_design ~70, report_writes ~70, report_figures ~60, scale_out ~50 +
#: Ray's own daemons, exit_paths ~50, report_build ~40, dashboard ~40, report_statistics ~30.
FIRST = (
    "signals",
    "tests/integration/test_app.py",
    "tests/reliability/test_store_safety.py",
    "tests/integration/test_scale_out.py",
    "tests/reliability/test_bad_input.py",
    "tests/reliability/test_report_writes.py",
    "tests/integration/test_report_figures.py",
    "tests/integration/test_report_design.py",
    "tests/reliability/test_exit_paths.py",
    "tests/integration/test_report_build.py",
    "tests/integration/test_dashboard.py",
    "tests/integration/test_report_statistics.py",
)


def _module_group(module: str) -> str:
    return next((g for g, modules in SERIAL_GROUPS.items() if module in modules), module)


def group_of(nodeid: str) -> str:
    """The unit of work a test belongs to under pytest-xdist: its serial group, else the
    test itself if its module is in SPREAD, else its module (whose tests then stay on one
    worker, so its module fixtures are built once)."""
    module = nodeid.split("::", 1)[0]
    return nodeid if module in SPREAD else _module_group(module)


def pytest_collection_modifyitems(config, items):
    rank = {group: i for i, group in enumerate(FIRST)}
    first = len(rank)
    items.sort(key=lambda item: rank.get(_module_group(item.nodeid.split("::", 1)[0]), first))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with the groups above as files. (``--dist loadgroup`` cannot be
    used: with pytest 9.2 it no longer groups anything, pytest-dev/pytest-xdist#1386.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class GroupScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return GroupScheduling(config, log)


# -- where the suite's time goes (``ABLATION_TEST_CPU_LOG=FILE make test``) ----------------------


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With ``ABLATION_TEST_CPU_LOG`` set, append one JSON line per test to that file: its wall
    time and the CPU seconds of the worker and of the processes it started and waited for
    (setup and teardown included, so a module fixture counts in its first test).

    Wall time alone misleads on a shared machine: a test that sleeps or waits on a server
    costs wall but no CPU, and on 2 cores the suite's floor is its CPU seconds over 2.
    Commands forked by tests/zygote.py are the zygote's children, not the worker's: their
    CPU counts only with ``ABLATION_TEST_FRESH=1`` (every command in a fresh interpreter)."""
    path = os.environ.get("ABLATION_TEST_CPU_LOG")
    if not path:
        yield
        return
    t0 = time.perf_counter()
    me0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    yield
    me1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)

    def cpu(a, b):
        return round(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime, 2)

    line = {
        "test": item.nodeid,
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
        "wall": round(time.perf_counter() - t0, 2),
        "cpu_self": cpu(me0, me1),
        "cpu_children": cpu(kids0, kids1),
    }
    with open(path, "a", encoding="utf-8") as f:  # one short write per line: no interleaving
        f.write(json.dumps(line) + "\n")
