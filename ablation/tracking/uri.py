"""Where a store lives: ONE resolver for the sweep, the report and the UI.

The same text names the same store everywhere (:func:`resolve_uri`):

- nothing: ``$MLFLOW_TRACKING_URI``, else ``sqlite:///<cwd>/mlruns/mlflow.db``;
- a folder (``runs``, ``~/runs``, ``/abs/runs``): the sqlite store ``<folder>/mlflow.db``;
- a path to a file (an existing file, or a name ending in .db, .sqlite, .sqlite3): that file;
- ``sqlite:///rel.db``, ``sqlite:///~/x.db``, ``sqlite:////abs.db``: that file, absolute;
- ``file:DIR``, ``file:~/DIR``, ``file:///abs/DIR``: MLflow's file store there, absolute;
- anything else (``http://host:port``, ``postgresql://...``, ``databricks``): unchanged.

A store that cannot outlive the process, or whose location we cannot tell, is refused by
:func:`check_uri` before anything runs. This module does not import MLflow.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from ablation.errors import UserError

STORE_FILE = "mlflow.db"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: Tracking URI schemes MLflow has a store for (``postgresql+psycopg2`` counts as postgresql).
STORE_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql", "databricks")
#: What to pass instead, in every message about a store we refuse.
INSTEAD = "pass a folder (e.g. mlruns), sqlite:////abs/path/mlflow.db or http://host:port"
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")


class TrackingError(UserError, RuntimeError):
    """The tracking store cannot be used; the message says why and what to do."""


def resolve_uri(uri: str | None = None) -> str:
    """The canonical tracking URI for ``uri`` (see the module docstring); never raises.

    Forms we refuse (in-memory, sqlite options) come back unchanged for :func:`check_uri`.
    """
    text = uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not text.strip():
        return _sqlite(Path.cwd() / "mlruns" / STORE_FILE)
    scheme = scheme_of(text)
    if scheme is None:
        # 'databricks' alone is MLflow's name for the default Databricks workspace
        return text if ":memory:" in text or text == "databricks" else _from_path(text)
    if scheme == "sqlite":
        return _from_sqlite(text)
    if scheme == "file":
        return _from_file(text)
    return text


def scheme_of(uri: str) -> str | None:
    """``sqlite``, ``http``, ...; None for a bare path (``runs``, ``~/x``, ``a:b``)."""
    m = _SCHEME.match(uri)
    if m is None:
        return None
    scheme = m.group(1).lower()
    if uri[m.end() :].startswith("//") or scheme in ("sqlite", "file"):
        return scheme
    return None  # 'results:v2' is a folder name, not a URI


def _absolute(path: str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(path)))


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path}"


def _from_path(text: str) -> str:
    path = _absolute(text)
    if path.is_file() or (path.suffix.lower() in SQLITE_SUFFIXES and not path.is_dir()):
        return _sqlite(path)
    return _sqlite(path / STORE_FILE)


def _from_sqlite(text: str) -> str:
    rest = text.removeprefix("sqlite:///") if text.startswith("sqlite:///") else None
    if not rest or "?" in rest or rest.startswith("file:") or ":memory:" in rest:
        return text  # in-memory or with options: check_uri says why not
    return _sqlite(_absolute(rest))


def _from_file(text: str) -> str:
    parsed = urlparse(text)
    path = unquote(parsed.path)
    if parsed.netloc not in ("", "localhost") or not path or ":memory:" in path:
        return text
    return _absolute(path).as_uri()


def sqlite_path(uri: str) -> Path | None:
    """The file of a canonical sqlite URI (``sqlite:////abs/mlflow.db``); None otherwise."""
    if not uri.startswith("sqlite:///"):
        return None
    rest = uri.removeprefix("sqlite:///")
    if not rest.startswith("/") or "?" in rest or ":memory:" in rest:
        return None
    return Path(rest)


def file_store_path(uri: str) -> Path | None:
    """The folder of a canonical ``file:///abs`` URI (MLflow's file store); None otherwise."""
    if scheme_of(uri) != "file":
        return None
    parsed = urlparse(uri)
    path = unquote(parsed.path)
    return Path(path) if parsed.netloc in ("", "localhost") and path.startswith("/") else None


def artifact_root(uri: str) -> str | None:
    """Artifacts of an sqlite store go beside it (``mlruns/artifacts``); a server decides."""
    db = sqlite_path(uri)
    return (db.parent / "artifacts").as_uri() if db else None


def is_remote(uri: str) -> bool:
    return scheme_of(uri) in ("http", "https")


def check_uri(uri: str) -> None:
    """Refuse, in one line, a store that cannot outlive the process or cannot be located.

    In-memory sqlite (``sqlite://``, ``sqlite:///``, ``sqlite:///:memory:``,
    ``?mode=memory``), sqlite URIs with options or ``file:`` names (they can
    make a store read-only, shared in memory or elsewhere than the path says), sqlite
    dialect+driver forms, ``file:`` URIs without a local path, unknown schemes.
    """
    low = uri.lower()
    shown = f"the tracking URI {uri!r}"
    if ":memory:" in low or "mode=memory" in low:
        raise TrackingError(
            f"{shown} is an in-memory database: every run would vanish when the process "
            f"ends; {INSTEAD}"
        )
    scheme = scheme_of(uri)
    if scheme is None:
        return
    family = scheme.split("+", 1)[0]
    if family not in STORE_SCHEMES:
        raise TrackingError(f"{shown} has an unknown scheme {scheme!r}; {INSTEAD}")
    if family == "sqlite":
        if scheme != "sqlite":
            raise TrackingError(
                f"{shown} names a database driver; use plain sqlite:///... or {INSTEAD}"
            )
        rest = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else ""
        if not rest:
            raise TrackingError(
                f"{shown} has no file: sqlite keeps it in memory and every run would vanish "
                f"when the process ends; {INSTEAD}"
            )
        if "?" in rest or rest.startswith("file:"):
            raise TrackingError(
                f"{shown} has sqlite options or a file: name; they can keep the store in "
                f"memory, read-only or elsewhere; {INSTEAD}"
            )
    if family == "file" and file_store_path(resolve_uri(uri)) is None:
        raise TrackingError(f"{shown} names no local folder; use file:///abs/path or {INSTEAD}")
