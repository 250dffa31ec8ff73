"""Error types a user can fix, and the one place that turns an exception into one console
line and an exit status.

A leaf: everyone may import this module, and it imports nothing of the project that could
pull in MLflow. Each layer's bad-input error subclasses :class:`UserError` (``ConfigError``
here, ``DataError`` in the data layer, ``TrackingError`` in tracking), so this module
catches them all without importing those layers.

Whatever reaches the terminal from here (:func:`print_error`) or through the console's log
formatter (:class:`TerminalFormatter`) has its control characters escaped: a user's string
(an experiment name holding ``ESC ] 0 ; ... BEL`` or ``ESC [ 2J``) cannot retitle or clear
the terminal.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
import sys
from collections.abc import Iterator

#: Exit statuses of ``python -m ablation`` (a stop signal exits with 128 + its number).
EXIT_FAILED = 1  # a cell failed, or something broke that is not the user's input
EXIT_USER_ERROR = 2  # bad input: the message says what to change

#: What the message of a write that hit a full disk or the file-size limit contains
#: (sqlite and MLflow wrap the OSError in their own exceptions, as text).
_DISK_FULL_TEXT = (
    "database or disk is full",
    "file too large",
    "no space left on device",
    "disk i/o error",  # what sqlite says when a write hits RLIMIT_FSIZE
)
_DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


#: Lines of Hydra's and OmegaConf's messages that say nothing the user can act on.
_HYDRA_NOISE = ("Config search path:", "full_key:", "object_type=", "reference_type=")


#: Characters a terminal acts on: C0 controls but newline and tab, DEL, C1 controls, and the
#: bidirectional overrides that reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``), not acted on."""
    return _CONTROL.sub(lambda m: ascii(m.group(0))[1:-1], text)


def print_error(message: str) -> None:
    """The one way an error line reaches the terminal (stderr), control characters escaped."""
    print(printable(message), file=sys.stderr, flush=True)


class TerminalFormatter(logging.Formatter):
    """The console's log formatter (``conf/hydra/*_logging/ablation.yaml``): escapes control
    characters, as :func:`print_error` does."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


class UserError(Exception):
    """Bad input the user can fix (config, data, store): one line, exit status 2."""


class ConfigError(UserError, ValueError):
    """A config value is invalid; the message names the field and the fix."""


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix (bad config, data, store) into one line and exit 2."""
    from ablation.run.signals import as_interrupted

    try:
        yield
    except UserError as err:
        stop = as_interrupted(err)
        if stop is not None:  # a stop signal cut the store's opening short: not bad input
            raise stop from None
        print_error(f"error: {err}")
        raise SystemExit(EXIT_USER_ERROR) from None


def quiet_store_tracebacks() -> None:
    """MLflow logs every failed store transaction with its full traceback (nine of them for
    one full disk) before raising it; the exception itself reaches the user as one line."""
    logger = logging.getLogger("mlflow.store.db.utils")
    if not any(f is _drop_tracebacks for f in logger.filters):
        logger.addFilter(_drop_tracebacks)


def _drop_tracebacks(record: logging.LogRecord) -> bool:
    return not (record.levelno >= logging.ERROR and record.exc_info)


def error_chain(err: BaseException | None) -> Iterator[BaseException]:
    """``err``, then what it was raised from or while handling (``__cause__`` or
    ``__context__``), and so on; each exception once (a chain may loop)."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def is_disk_full(err: BaseException) -> bool:
    """A write failed for lack of space or over the file-size limit (RLIMIT_FSIZE)."""
    return any(
        (isinstance(e, OSError) and e.errno in _DISK_FULL_ERRNOS)
        or any(text in str(e).lower() for text in _DISK_FULL_TEXT)
        for e in error_chain(err)
    )


class StoreGone(BaseException):
    """The store's server stayed away past its bound (``tracking.outage_wait_s``): the sweep
    stops with one line. A BaseException, like a stop signal: no ``except Exception`` on the
    way takes it for a failure of the cell. Tracking raises its subclass
    ``ServerUnreachable``; this base lets the module stay a leaf."""


def _server_unreachable(err: BaseException | None) -> BaseException | None:
    return next((e for e in error_chain(err) if isinstance(e, StoreGone)), None)


def hydra_message(err: BaseException) -> str | None:
    """Hydra's message for bad input on the command line (unknown option or key, bad
    override syntax): first line, then the rest (e.g. the valid options) indented. None
    if ``err`` is not one of those."""
    from hydra.errors import CompactHydraException
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(err, CompactHydraException):
        return None
    text = str(err).strip()
    if isinstance(err.__cause__, OmegaConfBaseException):
        text += "\n" + str(err.__cause__).strip()
    lines = []
    for line in text.splitlines():
        if line.strip().startswith(_HYDRA_NOISE[0]):
            break  # the search path follows: Hydra's internals, not the user's input
        if line.strip() and not line.strip().startswith(_HYDRA_NOISE[1:]):
            lines.append(line.replace("\t", "  ").rstrip())
    first, *rest = lines
    return "\n".join([first.strip(), *(f"  {line}" for line in rest)])


def one_line(err: BaseException) -> str:
    """``Type: message`` on one line, for errors that are not the user's input."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")[:500]


def exit_status(err: BaseException) -> tuple[int, str | None]:
    """The exit status for an exception that ended ``python -m ablation``, and the message
    to print (None when it was printed already: a SystemExit)."""
    from ablation.run.signals import as_interrupted

    stop = as_interrupted(err)
    if stop is not None:
        return stop.exit_code, f"stopped: {stop.reason}"
    if isinstance(err, SystemExit):
        code = err.code
        if code is None or isinstance(code, int):
            return code or 0, None
        return EXIT_FAILED, f"error: {code}"
    hydra = hydra_message(err)
    if hydra is not None:
        return EXIT_USER_ERROR, f"error: {hydra}"
    if isinstance(err, UserError):
        return EXIT_USER_ERROR, f"error: {err}"
    gone = _server_unreachable(err)
    if gone is not None:  # the server stayed away past tracking.outage_wait_s
        return EXIT_FAILED, f"error: {gone}"
    if is_disk_full(err):
        return (
            EXIT_FAILED,
            f"error: a write failed (disk full, file-size limit or disk error): {one_line(err)}; "
            "free space and run the same command again",
        )
    return EXIT_FAILED, f"error: {one_line(err)}"
