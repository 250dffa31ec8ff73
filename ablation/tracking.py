"""MLflow store: where it lives, experiments, parent/child runs, resume by config hash.

Layout of a study in the store (the report relies on it):

- one experiment per study (``experiment_name``);
- one parent run per sweep, tag ``ablation.role=sweep``, created before any job starts;
- one child run per cell and seed, tag ``ablation.role=cell``, nested under the parent,
  identified by ``ablation.config_hash`` (resume) and ``ablation.cell_hash`` (seeds).

Everything here talks to MLflow through :class:`MlflowClient` with an explicit
tracking URI, never through MLflow's global "active run" state, so several sweeps
and several stores can live in one process.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.tracking import MlflowClient

T = TypeVar("T")

HOST = socket.gethostname()
PARENT_ENV = "ABLATION_PARENT_RUN_ID"
SWEEP_TOTAL_ENV = "ABLATION_SWEEP_TOTAL"
SWEEP_TODO_ENV = "ABLATION_SWEEP_TODO"
SWEEP_T0_ENV = "ABLATION_SWEEP_T0"
SWEEP_HOST_ENV = "ABLATION_SWEEP_HOST"

TAG_ROLE = "ablation.role"
TAG_HASH = "ablation.config_hash"
TAG_CELL_HASH = "ablation.cell_hash"
TAG_CELL = "ablation.cell"
TAG_FAILURE = "ablation.failure"
TAG_OVERRIDES = "ablation.overrides"
TAG_HOST = "ablation.host"
TAG_PID = "ablation.pid"
TAG_PID_START = "ablation.pid_start"
TAG_PARENT = "mlflow.parentRunId"

MAX_PARAM_LEN = 6000


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message says why and what to do."""


# -- where the store lives ---------------------------------------------------------------


def resolve_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        return f"sqlite:///{Path.cwd().resolve() / 'mlruns' / 'mlflow.db'}"
    if uri.startswith("sqlite:///"):
        return uri
    if "://" not in uri:  # a plain folder: put an sqlite store in it
        return f"sqlite:///{Path(uri).resolve() / 'mlflow.db'}"
    return uri


def sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def artifact_root(uri: str) -> str | None:
    """Artifacts of an sqlite store go beside it (``mlruns/artifacts``); a server decides."""
    db = sqlite_path(uri)
    return (db.parent / "artifacts").as_uri() if db else None


#: Tracking URI schemes MLflow has a store for (``postgresql+psycopg2`` counts as postgresql).
STORE_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")


def check_store(uri: str, *, timeout: float = 5.0) -> None:
    """Fail early, with a useful message, on a store we cannot write to or reach."""
    scheme = uri.split("://", 1)[0].split("+", 1)[0]
    if scheme not in STORE_SCHEMES:
        raise TrackingError(
            f"tracking.uri={uri!r} has an unknown scheme {scheme!r}; use "
            "sqlite:////abs/path/mlflow.db, a folder, or http://host:port of an MLflow server"
        )
    db = sqlite_path(uri)
    if db is not None:
        try:
            db.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise TrackingError(
                f"cannot create the tracking store folder {db.parent}: {err.strerror}; "
                "pass tracking.uri=sqlite:////a/writable/path/mlflow.db"
            ) from None
        target = db if db.exists() else db.parent
        if not os.access(target, os.W_OK):
            raise TrackingError(
                f"the tracking store {target} is not writable; fix its permissions or "
                "pass tracking.uri=sqlite:////a/writable/path/mlflow.db"
            )
        return
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
                pass
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise TrackingError(
                f"cannot reach the MLflow server at {uri} ({reason}); start it "
                f"(mlflow server --host 127.0.0.1 --port 5000 --backend-store-uri "
                f"sqlite:///mlflow.db) or fix tracking.uri"
            ) from None


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise store creation between processes (sqlite schema set-up is not race-safe)."""
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.parent / ".ablation.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def retry(fn: Callable[..., T], *args: Any, attempts: int = 8, **kwargs: Any) -> T:
    """Call ``fn``, retrying with backoff while sqlite says the database is locked."""
    delay = 0.1
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as err:
            if "database is locked" not in str(err) or attempt == attempts - 1:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 3.0)
    raise AssertionError("unreachable")


# -- experiments and runs -------------------------------------------------------------------


def _create_sqlite_store(db: Path) -> None:
    """Build a new sqlite store in a temporary file, then rename it into place.

    MLflow creates its schema in many steps; a process killed half-way would leave a
    store that no later start can open ("index ... already exists"). Call under the lock.
    """
    for leftover in db.parent.glob(f".{db.name}.*.tmp*"):  # from a creator that was killed
        leftover.unlink(missing_ok=True)
    if db.exists():
        return
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    retry(MlflowClient(tracking_uri=f"sqlite:///{tmp}").search_experiments, max_results=1)
    os.replace(tmp, db)


@functools.cache
def client_for(uri: str) -> MlflowClient:
    """One client per URI and process, created under the store lock."""
    check_store(uri)
    with store_lock(uri):
        db = sqlite_path(uri)
        try:
            if db is not None:
                _create_sqlite_store(db)
            client = MlflowClient(tracking_uri=uri)
            retry(client.search_experiments, max_results=1)  # creates/migrates the schema once
        except Exception as err:  # a damaged file, a server error: one line, not a traceback
            raise TrackingError(
                f"cannot open the tracking store {uri}: {str(err).splitlines()[0]}"
            ) from None
    return client


def ensure_experiment(client: MlflowClient, uri: str, name: str) -> str:
    """The id of experiment ``name``, created (race-safely) if missing; restores a deleted one."""
    with store_lock(uri):
        exp = retry(client.get_experiment_by_name, name)
        if exp is None:
            return retry(client.create_experiment, name, artifact_location=artifact_root(uri))
        if exp.lifecycle_stage == "deleted":
            retry(client.restore_experiment, exp.experiment_id)
        return exp.experiment_id


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def search(
    client: MlflowClient, exp_id: str, filter_string: str, view: int = ViewType.ACTIVE_ONLY
) -> list:
    """All runs of an experiment matching ``filter_string`` (every page; active by default)."""
    runs, token = [], None
    while True:
        page = retry(
            client.search_runs,
            [exp_id],
            filter_string=filter_string,
            run_view_type=view,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def runs_with_hash(client: MlflowClient, exp_id: str, config_hash: str, status: str | None = None):
    query = f"tags.`{TAG_HASH}` = {quote(config_hash)}"
    if status:
        query += f" and attributes.status = {quote(status)}"
    return search(client, exp_id, query)


def finished_hashes(client: MlflowClient, exp_id: str) -> dict[str, Any]:
    """config_hash -> newest FINISHED run, for every hash in the experiment."""
    done: dict[str, Any] = {}
    for run in search(client, exp_id, "attributes.status = 'FINISHED'"):
        key = run.data.tags.get(TAG_HASH)
        if key and (key not in done or run.info.start_time > done[key].info.start_time):
            done[key] = run
    return done


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc); '' if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22, counted after the command name


def is_stale(run) -> bool:
    """A RUNNING run started on this host by a process that no longer exists.

    A live process with the run's pid but another start time is a different process
    that reused the pid: the run's own process is gone.
    """
    tags = run.data.tags
    if run.info.status != "RUNNING" or tags.get(TAG_HOST) != HOST:
        return False
    try:
        pid = int(tags.get(TAG_PID, ""))
    except ValueError:
        return False
    if not _pid_alive(pid):
        return True
    started = tags.get(TAG_PID_START)
    return bool(started) and _process_start(pid) not in ("", started)


def reap_stale(client: MlflowClient, exp_id: str, runs=None) -> list[str]:
    """Mark RUNNING runs of dead local processes KILLED; return their ids."""
    if runs is None:
        runs = search(client, exp_id, "attributes.status = 'RUNNING'")
    reaped = []
    for run in runs:
        if is_stale(run):
            retry(client.set_tag, run.info.run_id, TAG_FAILURE, "killed: its process died")
            retry(client.set_terminated, run.info.run_id, status="KILLED")
            reaped.append(run.info.run_id)
    return reaped


def start_run(client: MlflowClient, exp_id: str, *, name: str, tags: dict[str, str]) -> str:
    pid = os.getpid()
    tags = {TAG_HOST: HOST, TAG_PID: str(pid), TAG_PID_START: _process_start(pid), **tags}
    if not tags[TAG_PID_START]:  # no /proc here: the pid alone identifies the process
        del tags[TAG_PID_START]
    run = retry(client.create_run, exp_id, tags=tags, run_name=name)
    return run.info.run_id


def claim_cell(
    client: MlflowClient, exp_id: str, config_hash: str, *, name: str, tags: dict[str, str]
) -> tuple[str | None, Any]:
    """Create the run of a cell unless another process owns it.

    Create first, then look: of all live runs with this hash, the oldest wins and the
    others delete themselves. Two sweeps racing for one cell therefore train it once.
    Returns ``(run_id, None)`` if we own the cell, else ``(None, owner_run)``.
    """
    run_id = start_run(client, exp_id, name=name, tags={TAG_HASH: config_hash, **tags})
    rivals = [
        r
        for r in runs_with_hash(client, exp_id, config_hash)
        if r.info.status in ("RUNNING", "FINISHED") and not is_stale(r)
    ]
    rivals.sort(key=lambda r: (r.info.status != "FINISHED", r.info.start_time, r.info.run_id))
    owner = rivals[0] if rivals else None
    if owner is None or owner.info.run_id == run_id:
        return run_id, None
    retry(client.set_terminated, run_id, status="KILLED")  # not left RUNNING, even deleted
    retry(client.delete_run, run_id)
    return None, owner


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    items = [Param(k, _param_str(v)) for k, v in sorted(params.items())]
    for i in range(0, len(items), 100):
        retry(client.log_batch, run_id, params=items[i : i + 100])


def _param_str(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_LEN else text[: MAX_PARAM_LEN - 3] + "..."


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, Any]) -> None:
    retry(client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


class MetricBuffer:
    """Collect ``split/name`` metrics and write them with ``log_batch`` every few seconds."""

    def __init__(self, client: MlflowClient, run_id: str, every_s: float = 10.0):
        self.client, self.run_id, self.every_s = client, run_id, every_s
        self.pending: list[Metric] = []
        self.last_flush = time.monotonic()

    def add(self, step: int, metrics: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self.pending.extend(Metric(k, float(v), now, int(step)) for k, v in metrics.items())
        if time.monotonic() - self.last_flush > self.every_s:
            self.flush()

    def flush(self) -> None:
        while self.pending:
            chunk, self.pending = self.pending[:1000], self.pending[1000:]
            retry(self.client.log_batch, self.run_id, metrics=chunk)
        self.last_flush = time.monotonic()


@functools.cache
def git_commit() -> str:
    """The commit of the checkout this package runs from, or '' when installed from a wheel."""
    repo = Path(__file__).resolve().parent.parent
    if not (repo / ".git").exists():
        return ""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() + ("-dirty" if dirty else "")
