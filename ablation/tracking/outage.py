"""Riding out an MLflow server outage: a bounded wait with backoff, two lines, no flood.

A server restart (a deploy, a database failover) takes seconds to a minute. Every store call
goes through :func:`ablation.tracking.retry`; when one fails because the server does not
answer (connection refused or reset, a timeout, a 5xx from the server or a proxy),
:func:`wait` logs one line, sleeps with backoff and lets ``retry`` call again, until the
server answers (one more line) or the bound (``tracking.outage_wait_s``, 2 minutes by
default) is past: then :class:`ServerUnreachable`, one line naming the server.

The bound is per process and off (0: fail at once) until :func:`set_wait` turns it on: the
sweep does after its first contact with the store, so a server that is not there at all
still fails the sweep's start at once; a cell does before its first store call. MLflow's own
HTTP retries are off for writers (``ablation.tracking.store.HTTP_LIMITS``): one layer of
retries, this one, and no urllib3 ``Retrying (Retry(total=...))`` warnings.
"""

from __future__ import annotations

import logging
import re
import time

from ablation.tracking.uri import TrackingError

log = logging.getLogger("ablation")

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


class ServerUnreachable(RuntimeError):
    """The server did not answer for longer than the bound: the cell (or the sweep) fails.

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
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        name = type(err).__name__
        if name in ("ConnectionError", "ConnectTimeout", "ReadTimeout", "RetryError"):
            return True  # requests' exceptions (MLflow keeps them as the context)
        if isinstance(err, (ConnectionError, TimeoutError)):
            return True
        text = str(err).lower()
        if "api request to" in text and any(t in text for t in _DOWN_TEXT):
            return True
        err = err.__cause__ or err.__context__
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
