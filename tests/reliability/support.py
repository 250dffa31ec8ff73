"""Helpers for the reliability tests: real CLI processes in their own process group, and
read-only views of the real sqlite store they write."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from ablation import tracking
from tests import zygote
from tests.conftest import store_uri

#: One BLAS thread per process: tiny cells on a shared machine otherwise fight over cores.
TEST_ENV = {"PYTHONUNBUFFERED": "1", "ABLATION_BLAS_THREADS": "1"}

#: What every FINISHED cell run must carry (experiment.run_cell logs them before FINISHED).
REQUIRED_METRICS = {
    "train/loss",
    "train/acc",
    "test/loss",
    "test/acc",
    "time/fit_s",
    "time/total_s",
    "test/min_class_recall",  # per-class recall/precision: the per_class.csv artifact
}
REQUIRED_ARTIFACTS = {
    "config.yaml",
    "per_class.csv",
    "weights.npz",
    "confusion_matrix.csv",
    "confusion_matrix.png",
    "learning_curve.png",
}


class Proc:
    """``python -m <module> args`` in a new session (its own process group).

    stdout and stderr are merged and read by a thread into ``lines`` as they come.
    """

    def __init__(self, *args: str, cwd: Path, module: str = "ablation", env=None):
        self.args = args
        self.popen = zygote.Popen(
            [sys.executable, "-m", module, *args],
            cwd=cwd,
            env={**os.environ, **TEST_ENV, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.pgid = self.popen.pid  # start_new_session: the leader's pid is the group id
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def tail(self, n: int = 4000) -> str:
        return self.output[-n:]

    def wait_until(self, predicate: Callable[[], bool], what: str, timeout: float = 180) -> None:
        """Poll ``predicate`` until true; fail if the process ends first or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.popen.poll() is not None:
                raise AssertionError(f"the process ended before {what}:\n{self.tail()}")
            time.sleep(0.02)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}:\n{self.tail()}")

    def kill_group(self) -> None:
        """SIGKILL the whole process group (the sweep and any worker it started)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signal.SIGKILL)
        self.popen.wait(timeout=30)
        self._reader.join(timeout=10)

    def wait(self, timeout: float = 300) -> int:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_group()
            raise AssertionError(f"timed out after {timeout}s:\n{self.tail()}") from None
        self._reader.join(timeout=10)
        return code

    def group_members(self, settle: float = 0.0) -> list[int]:
        """Live pids in this process group, from /proc (zombies do not count).

        With ``settle``, wait up to that many seconds for the group to empty (a SIGKILLed
        process takes a moment to go).
        """
        deadline = time.monotonic() + settle
        while True:
            members = []
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                except (OSError, IndexError):
                    continue
                if int(fields[2]) == self.pgid and fields[0] not in "ZX":  # state, pgrp
                    members.append(int(entry.name))
            if not members or time.monotonic() >= deadline:
                return members
            time.sleep(0.05)


@contextlib.contextmanager
def started(*procs_args, **kwargs):
    """Start processes; whatever happens, kill their groups at the end (no strays)."""
    procs: list[Proc] = []
    try:
        for args in procs_args:
            procs.append(Proc(*args, **kwargs))
        yield procs
    finally:
        for p in procs:
            if p.popen.poll() is None:
                p.kill_group()


# -- the store -------------------------------------------------------------------------------


def db_path(workdir: Path) -> Path:
    return workdir / "mlruns" / "mlflow.db"


def client(workdir: Path) -> MlflowClient:
    return MlflowClient(store_uri(workdir))


def runs(workdir: Path, experiment: str = "ablation", role: str | None = None) -> list:
    """Every run of the experiment, deleted ones included ([] before the store exists).

    Never opens a store that does not exist yet: MLflow would create it, racing the sweep.
    """
    if not db_path(workdir).exists():
        return []
    c = client(workdir)
    exp = tracking.retry(c.get_experiment_by_name, experiment)
    if exp is None:
        return []
    query = f"tags.`{tracking.TAG_ROLE}` = '{role}'" if role else ""
    return tracking.search(c, exp.experiment_id, query, view=ViewType.ALL)


def cell_runs(workdir: Path, experiment: str = "ablation") -> list:
    return runs(workdir, experiment, role="cell")


def active(run_list: list) -> list:
    return [r for r in run_list if r.info.lifecycle_stage == "active"]


def by_status(run_list: list, status: str) -> list:
    return [r for r in run_list if r.info.status == status]


def assert_store_consistent(workdir: Path, n_cells: int, experiment: str = "ablation") -> None:
    """The end state every test of this folder wants.

    Every cell has exactly one FINISHED run (deleted runs included), every FINISHED run
    is complete (params, metrics, artifacts, loadable weights), and no run of the study,
    parent or child, deleted or not, is still RUNNING.
    """
    from ablation.nn import MLP

    every = runs(workdir, experiment)
    still_running = [
        (r.info.run_id, r.data.tags.get(tracking.TAG_ROLE)) for r in by_status(every, "RUNNING")
    ]
    assert not still_running, f"runs left RUNNING: {still_running}"

    finished = by_status(cell_runs(workdir, experiment), "FINISHED")
    per_hash = Counter(r.data.tags[tracking.TAG_HASH] for r in finished)
    twice = {h: n for h, n in per_hash.items() if n > 1}
    assert not twice, f"cells FINISHED more than once: {twice}"
    assert len(per_hash) == n_cells, f"{len(per_hash)} of {n_cells} cells FINISHED"
    assert all(r.info.lifecycle_stage == "active" for r in finished)

    c = client(workdir)
    for run in finished:
        rid = run.info.run_id
        missing = REQUIRED_METRICS - set(run.data.metrics)
        assert not missing, f"FINISHED run {rid} lacks metrics {sorted(missing)}"
        assert {"init.name", "seed", "optim.lr", "data.name"} <= set(run.data.params), rid
        assert len(run.data.tags.get("ablation.data_checksum", "")) == 64, rid
        files = {a.path: a.file_size for a in c.list_artifacts(rid)}
        lacking = REQUIRED_ARTIFACTS - set(files)
        assert not lacking, f"FINISHED run {rid} lacks artifacts {sorted(lacking)}"
        empty = [name for name in REQUIRED_ARTIFACTS if not files[name]]
        assert not empty, f"FINISHED run {rid} has empty artifacts {empty}"
        local = Path(c.download_artifacts(rid, "weights.npz", str(workdir / "dl" / rid)))
        assert MLP.load(local).sizes[-1] == 10
