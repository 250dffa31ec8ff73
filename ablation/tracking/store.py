"""Opening a store: checks before MLflow touches it, a writer for sweeps, a reader for reports.

MLflow creates (and may migrate) its schema in whatever sqlite file it is given, and its
HTTP client waits minutes for a silent server. So, before any MLflow call:

- the URI must name a store that outlives the process (:func:`~ablation.tracking.uri.check_uri`);
- an sqlite file must be new (absent or 0 bytes), or an MLflow store of exactly the schema
  this MLflow writes: another sqlite database never gets MLflow's tables added, and a store
  of another MLflow version is never migrated behind the user's back;
- a server must answer ``/health`` within seconds, and our MLflow HTTP requests have a
  timeout and few retries (:data:`~ablation.tracking.outage.HTTP_LIMITS`, unless the user
  set them).

Every store call goes through :func:`retry`: it retries on sqlite's ``database is locked``
and waits out a server outage (:mod:`~ablation.tracking.outage`).

:func:`client_for` opens a store to write (sweep, cells); :func:`open_reader` opens an
existing store to read only (report): an sqlite file is opened read-only by SQLite itself.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from ablation.run.signals import deferred
from ablation.tracking import outage
from ablation.tracking.outage import HEALTH_TIMEOUT_S, check_server
from ablation.tracking.uri import (
    INSTEAD,
    TrackingError,
    check_uri,
    file_store_path,
    is_remote,
    resolve_uri,
    sqlite_path,
)

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"
#: Tables every MLflow sqlite store has; a database with other tables only is not ours.
MLFLOW_TABLES = frozenset({"experiments", "runs", "alembic_version"})


# -- what is in an sqlite file ------------------------------------------------------------


@functools.cache
def mlflow_schema() -> str:
    """The schema revision this MLflow writes (its newest alembic migration)."""
    # private MLflow API: the only place that names the head revision of its migrations
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def sqlite_kind(db: Path) -> tuple[str, str]:
    """``(kind, detail)`` of the file ``db``, read without writing to it.

    kind: ``new`` (absent, 0 bytes or no tables), ``mlflow`` (detail: schema revision),
    ``other`` (an sqlite database of someone else; detail: its tables), ``not-sqlite``,
    ``not-a-file`` (a folder or a device).
    """
    if not db.exists():
        return "new", ""
    if not db.is_file():
        return "not-a-file", ""
    with open(db, "rb") as fh:
        head = fh.read(len(SQLITE_HEADER))
    if not head:
        return "new", ""
    if head != SQLITE_HEADER:
        return "not-sqlite", "file is not a database"
    try:
        con = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True, timeout=30)
        try:
            tables = {
                row[0] for row in con.execute("select name from sqlite_master where type = 'table'")
            }
            if not tables:
                return "new", ""
            if not MLFLOW_TABLES.issubset(tables):
                return "other", ", ".join(sorted(tables)[:8])
            rows = con.execute("select version_num from alembic_version").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        return "not-sqlite", str(err)
    return "mlflow", ",".join(r[0] for r in rows)


def check_sqlite_file(db: Path, *, reading: bool = False) -> None:
    """Raise ``TrackingError`` unless ``db`` may be opened by MLflow (new, or ours and current)."""
    kind, detail = sqlite_kind(db)
    if kind == "new" and not reading:
        return
    if kind == "new":
        what = "does not exist" if not db.exists() else "is empty"
        raise TrackingError(
            f"no MLflow store at {db} (the file {what}); run a sweep first "
            "(python -m ablation ...) or pass --tracking-uri pointing at an existing store"
        )
    if kind == "not-a-file":
        raise TrackingError(f"the tracking store {db} is a folder or device, not a file; {INSTEAD}")
    if kind == "not-sqlite":
        raise TrackingError(
            f"the tracking store {db} is not an MLflow store ({detail}); move it away or {INSTEAD}"
        )
    if kind == "other":
        raise TrackingError(
            f"{db} is an sqlite database of something else (tables: {detail}), not an MLflow "
            f"store; it is left untouched; {INSTEAD}"
        )
    if detail != mlflow_schema():
        import mlflow

        raise TrackingError(
            f"the MLflow store {db} has schema {detail or 'none'} but MLflow {mlflow.__version__} "
            f"uses {mlflow_schema()}; open it with the MLflow version that wrote it, or back it "
            f"up and run: mlflow db upgrade sqlite:///{db}"
        )


# -- checks before MLflow -----------------------------------------------------------------


def check_store_file(uri: str, *, reading: bool = False) -> None:
    """What :func:`check_store` (``reading``: :func:`open_reader`) refuses without MLflow, the
    network or creating anything: a store that cannot outlive the process, an sqlite file that
    is not a store of ours (or, ``reading``, no store at all). Sweeps and reports call it
    first: a wrong store is refused before MLflow is imported (~1 s sooner)."""
    check_uri(uri)
    db = sqlite_path(uri)
    if db is not None:
        check_sqlite_file(db, reading=reading)


def check_store(uri: str, *, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Fail early, with a useful message, on a store we cannot write to or reach."""
    check_uri(uri)
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
        check_sqlite_file(db)  # before the lock file is made beside someone else's file
        return
    if is_remote(uri):
        check_server(uri, timeout=timeout)


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
    """Call ``fn``, retrying with backoff while sqlite says the database is locked, and
    waiting out a server that stopped answering (:func:`~ablation.tracking.outage.wait`:
    up to ``tracking.outage_wait_s``, one line when it stops and one when it is back).

    Every store call of the package goes through here. A stop signal arriving during a
    call is raised when the call has returned (:func:`~ablation.run.signals.deferred`), never
    inside MLflow or SQLAlchemy, which are not safe against an exception at any point.
    """
    delay = 0.1
    locked = 0
    while True:
        try:
            with deferred():  # the sleep between attempts is not: a signal stops it
                result = fn(*args, **kwargs)
        except Exception as err:
            if outage.is_outage(err):
                outage.wait(err)  # sleeps, or raises past the bound
                continue
            locked += 1
            if "database is locked" not in str(err) or locked >= attempts:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 3.0)
            continue
        outage.answered()
        return result


# -- opening ------------------------------------------------------------------------------


def _create_sqlite_store(db: Path) -> None:
    """Build a new sqlite store in a temporary file, then rename it into place.

    MLflow creates its schema in many steps; a process killed half-way would leave a
    store that no later start can open ("index ... already exists"), and another process
    would see half a schema. Call under the lock.

    MLflow builds a schema by running each of its migrations (~1.5 s of CPU); the first
    store built is kept, emptied, as a template (:func:`_keep_template`), and later stores
    start as a copy of it: MLflow then adds only its Default experiment, for this process.
    """
    for leftover in db.parent.glob(f".{db.name}.*.tmp*"):  # from a creator that was killed
        leftover.unlink(missing_ok=True)
    if db.exists() and db.stat().st_size > 0:
        return  # an existing store (a 0-byte file is replaced: never half-built in place)
    from mlflow.tracking import MlflowClient

    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    copied = _copy_template(tmp)
    # MlflowClient() opens the store (and builds its schema): a store call like any other
    retry(retry(MlflowClient, tracking_uri=f"sqlite:///{tmp}").search_experiments, max_results=1)
    if not copied:
        _keep_template(tmp)
    os.replace(tmp, db)


def _template_path() -> Path:
    """The empty store of this MLflow version and schema, in the user's ablation cache."""
    import mlflow

    from ablation.data.cache import cache_dir  # the same folder as the decoded datasets

    return cache_dir() / "stores" / f"empty-mlflow-{mlflow.__version__}-{mlflow_schema()}.db"


def _copy_template(tmp: Path) -> bool:
    """Copy the template store to ``tmp``; False (and nothing copied) when there is none, or
    it is not an empty MLflow store of this schema (then it is removed, to be made again)."""
    try:
        template = _template_path()
        if not template.is_file():
            return False
        usable = sqlite_kind(template) == ("mlflow", mlflow_schema())
        if usable:
            con = sqlite3.connect(f"file:{quote(str(template))}?mode=ro", uri=True)
            try:
                usable = not any(
                    con.execute(f"select 1 from {table} limit 1").fetchone()
                    for table in ("experiments", "runs")
                )
            finally:
                con.close()
        if not usable:
            template.unlink(missing_ok=True)
            return False
        shutil.copyfile(template, tmp)
        return True
    except (OSError, sqlite3.Error):  # a cache only saves time: build the store instead
        tmp.unlink(missing_ok=True)
        return False


def _keep_template(store: Path) -> None:
    """Keep a copy of the new ``store`` without its Default experiment (MLflow makes that
    one, with this process's artifact folder, when it opens a store that lacks it)."""
    try:
        template = _template_path()
        template.parent.mkdir(parents=True, exist_ok=True)
        part = template.with_name(f".{template.name}.{os.getpid()}.tmp")
        shutil.copyfile(store, part)
        con = sqlite3.connect(part)
        try:
            with con:
                con.execute("delete from experiments")
        finally:
            con.close()
        os.replace(part, template)  # whole or not at all, whoever else writes it at once
    except (OSError, sqlite3.Error):  # no template: the next store is built by migrations
        with contextlib.suppress(OSError, NameError):
            part.unlink(missing_ok=True)


@functools.cache
def client_for(uri: str) -> MlflowClient:
    """One client per URI and process to write with, created under the store lock."""
    uri = resolve_uri(uri)
    retry(check_store, uri)  # a server that stops answering is waited for, in a cell
    from mlflow.tracking import MlflowClient  # here: a refused store never imports MLflow

    with store_lock(uri):
        db = sqlite_path(uri)
        try:
            if db is not None:
                check_sqlite_file(db)  # again under the lock: another process may have won
                _create_sqlite_store(db)
            client = retry(MlflowClient, tracking_uri=uri)
            retry(client.search_experiments, max_results=1)  # creates a new schema once
        except (TrackingError, outage.ServerUnreachable):
            raise
        except Exception as err:  # a damaged file, a server error: one line, not a traceback
            raise TrackingError(
                f"cannot open the tracking store {uri}: {str(err).splitlines()[0]}"
            ) from None
    return client


def read_only_uri(db: Path) -> str:
    """An sqlite URI SQLite opens read-only (``mode=ro``): no write can reach the file.

    The path is percent-encoded twice (SQLAlchemy decodes once, SQLite once), so it has
    no '/' for MLflow's parent-folder creation and any '?', '#' or '%' survives.
    """
    name = quote(quote(str(db), safe=""), safe="")
    return f"sqlite:///file:{name}?mode=ro&uri=true"


def open_reader(uri: str | None) -> MlflowClient:
    """A client on an existing store that never writes to it (for the report).

    An sqlite store must exist and be an MLflow store of this MLflow's schema (else one
    ``TrackingError`` line); it is then opened read-only. A file store must have its
    ``.trash`` folder (MLflow would create it); a server must answer ``/health``.
    """
    uri = resolve_uri(uri)
    check_uri(uri)
    db = sqlite_path(uri)
    if db is not None:
        check_sqlite_file(db, reading=True)
        return _client(read_only_uri(db))
    folder = file_store_path(uri)
    if folder is not None and not (folder / ".trash").is_dir():
        what = "holds no MLflow file store" if folder.exists() else "does not exist"
        raise TrackingError(
            f"no MLflow store at {folder} (the folder {what}); run a sweep first or pass "
            "--tracking-uri pointing at an existing store"
        )
    if is_remote(uri):
        check_server(uri, mode="read")
    return _client(uri)


def _client(uri: str) -> MlflowClient:
    from mlflow.tracking import MlflowClient  # after the checks: a refused store never imports it

    return MlflowClient(tracking_uri=uri)
