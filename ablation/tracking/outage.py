"""Reaching an MLflow server: its health check, MLflow's HTTP settings, and riding out an
outage (a bounded wait with backoff, two lines, no flood).

A server restart (a deploy, a database failover) takes seconds to a minute. Every store call
goes through :func:`ablation.tracking.retry`; when one fails because the server does not
answer (connection refused or reset, a timeout, a 5xx from the server or a proxy),
:func:`wait` logs one line, sleeps with backoff and lets ``retry`` call again, until the
server answers (one more line) or the bound (``tracking.outage_wait_s``, 2 minutes by
default) is past: then :class:`ServerUnreachable`, one line naming the server.

The bound is per process and off (0: fail at once) until :func:`set_wait` turns it on: the
sweep does after its first contact with the store, so a server that is not there at all
still fails the sweep's start at once; a cell does before its first store call. MLflow's own
HTTP retries are off for writers (:data:`HTTP_LIMITS`): one layer of
retries, this one, and no urllib3 ``Retrying (Retry(total=...))`` warnings.
"""

from __future__ import annotations

import logging
import os
import re
import time
import urllib.error
import urllib.request

from ablation.errors import StoreGone, error_chain
from ablation.tracking.uri import TrackingError

log = logging.getLogger("ablation")

#: MLflow's HTTP client settings for our processes (a user's own values win). MLflow's own
#: defaults (120 s, 7 retries with backoff) wait many minutes for a silent server. To read
#: (the report is interactive): 10 s x 2 tries. To write: 30 s, no retries by MLflow: a
#: sweep's store calls wait out an outage in :func:`ablation.tracking.retry` instead, with
#: one line, for up to ``tracking.outage_wait_s``.
HTTP_LIMITS = {
    "read": {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"},
    "write": {"MLFLOW_HTTP_REQUEST_TIMEOUT": "30", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
}
HEALTH_TIMEOUT_S = 5.0

#: The default bound (seconds), the schema's ``tracking.outage_wait_s``.
OUTAGE_WAIT_S = 120.0
#: Backoff between attempts while the server is down: 1 s, 2 s, 4 s, ... at most this.
MAX_DELAY_S = 8.0

#: What the errors of a server that does not answer say (MLflow wraps requests' errors
#: in an MlflowException as text: "API request to ... failed with exception ...").
_DOWN_TEXT = (
    "max retries exceeded",
    "connection refused",
    "connection aborted",
    "connection reset",
    "remotedisconnected",
    "failed to establish a new connection",
    "failed with timeout exception",
    "read timed out",
    "error responses",  # urllib3: "too many 503 error responses"
    "bad gateway",
    "service unavailable",
    "gateway timeout",
)
_SERVER = re.compile(r"https?://[^/\s'\"]+")


class ServerDown(TrackingError):
    """The server did not answer its health check (at a sweep's start: bad input, exit 2)."""

    def __init__(self, message: str, uri: str = "") -> None:
        super().__init__(message)
        self.uri = uri

    def __reduce__(self):
        return (type(self), (str(self), self.uri))


class ServerUnreachable(StoreGone):
    """The server did not answer for longer than the bound: the sweep stops, one line.

    A BaseException, like a stop signal's :class:`~ablation.run.signals.Interrupted`: no
    ``except Exception`` on the way (a cell's failure capture, Hydra's job wrapper and its
    "Error executing job" line) takes it for a failure of the cell, to be written to a
    store that is not there.

    A process that sees one (raised here, or re-raised in the sweep's process from a
    worker's) does not wait for the server again until a store call succeeds: closing the
    sweep's runs tries once, it does not wait out another bound."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        _state.gave_up = True


class _State:
    limit_s = 0.0  # 0: no waiting (the sweep's start, the report, the UI)
    since: float | None = None  # when the current outage began (monotonic)
    delay = 1.0
    server = ""
    gave_up = False  # past the bound once: later calls do not wait again until it answers


_state = _State()


def set_wait(seconds: float) -> None:
    """Wait up to ``seconds`` for a server that stops answering (0: fail at once)."""
    _state.limit_s = max(float(seconds), 0.0)


def is_outage(err: BaseException) -> bool:
    """``err`` (or an error it wraps) says the server did not answer, not that it refused."""
    if isinstance(err, ServerDown):
        return True
    for e in error_chain(err):
        name = type(e).__name__
        if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "RetryError"):
            return True  # requests' exceptions (MLflow keeps them as the context)
        if isinstance(e, (ConnectionError, TimeoutError)):
            return True
        text = str(e).lower()
        if "api request to" in text and any(t in text for t in _DOWN_TEXT):
            return True
    return False


def server_of(err: BaseException) -> str:
    if isinstance(err, ServerDown) and err.uri:
        return err.uri
    found = _SERVER.search(str(err))
    return found.group(0) if found else "the tracking server"


def _reason(err: BaseException) -> str:
    text = str(err).lower()
    for words, short in (
        ("refused", "connection refused"),
        ("timeout", "timed out"),
        ("timed out", "timed out"),
        ("error responses", "server errors"),
        ("reset", "connection reset"),
        ("aborted", "connection closed"),
        ("disconnected", "connection closed"),
    ):
        if words in text:
            return short
    return type(err).__name__


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def wait(err: BaseException) -> None:
    """Called by ``retry`` with an error for which :func:`is_outage` holds: sleep before the
    next attempt, or raise (``err`` itself when waiting is off, else
    :class:`ServerUnreachable` once the outage has lasted longer than the bound)."""
    if _state.limit_s <= 0:
        raise err
    now = time.monotonic()
    server = server_of(err)
    if _state.since is None:
        _state.since, _state.delay, _state.server = now, 1.0, server
        if not _state.gave_up:
            log.warning(
                f"the MLflow server at {server} stopped answering ({_reason(err)}); "
                f"waiting up to {format_seconds(_state.limit_s)} for it"
            )
    waited = now - _state.since
    if _state.gave_up or waited >= _state.limit_s:
        _state.since, _state.gave_up = None, True
        raise ServerUnreachable(
            f"the MLflow server at {server} did not answer for "
            f"{format_seconds(max(waited, _state.limit_s))} ({_reason(err)}); start it (or "
            "raise tracking.outage_wait_s) and run the same command again: finished cells "
            "are kept"
        ) from None
    time.sleep(min(_state.delay, _state.limit_s - waited))
    _state.delay = min(_state.delay * 2, MAX_DELAY_S)


def answered() -> None:
    """A store call succeeded: if the server had stopped answering, say it is back."""
    if _state.since is None and not _state.gave_up:
        return
    if _state.since is not None:
        log.warning(
            f"the MLflow server at {_state.server} answers again "
            f"(after {format_seconds(time.monotonic() - _state.since)})"
        )
    _state.since, _state.gave_up = None, False


# -- reaching the server ------------------------------------------------------------------


def limit_http_requests(mode: str = "write") -> None:
    """Give this process's MLflow HTTP requests a timeout and few retries (``HTTP_LIMITS``).

    MLflow reads these environment variables at each request; they are its only interface
    for this. Values already set (by the user) are kept. urllib3's warning on each of its
    retries (``Retrying (Retry(total=2, ...)) after connection broken``) is silenced: an
    outage is one line (:func:`wait`).
    """
    for key, value in HTTP_LIMITS[mode].items():
        os.environ.setdefault(key, value)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    # MLflow prints two "View run NAME at: URL" lines per closed run of a server, the name raw
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def check_server(uri: str, *, timeout: float = HEALTH_TIMEOUT_S, mode: str = "write") -> None:
    """The MLflow server at ``uri`` answers ``/health`` within ``timeout`` seconds."""
    limit_http_requests(mode)
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            pass
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise ServerDown(
            f"cannot reach the MLflow server at {uri} ({reason}); start it "
            f"(mlflow server --host 127.0.0.1 --port 5000 --backend-store-uri "
            f"sqlite:///mlflow.db) or fix tracking.uri",
            uri,
        ) from None
