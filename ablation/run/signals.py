"""Stop signals as one exception: SIGINT (Ctrl-C), SIGTERM (``kill``, Slurm's time limit) and
SIGHUP (a closed terminal) raise :class:`Interrupted` in the main thread, so every one of
them takes the same way out as Ctrl-C: the running cell and the sweep's parent run become
KILLED, and the process exits with 128 + the signal's number (130, 143, 129).

Everyone may import this module: of the project it imports only the leaf ``ablation.errors``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator

from ablation.errors import error_chain

#: The signals that stop a sweep or a cell (and are reported as KILLED, not FAILED).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(BaseException):
    """A stop signal arrived. A BaseException, like KeyboardInterrupt: ``except Exception``
    (retries, Hydra's job wrapper, MLflow) lets it pass to the code that closes the runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    def __reduce__(self):  # a joblib worker's Interrupted is re-raised in the sweep
        return (type(self), (self.signum,))

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def reason(self) -> str:
        """What the ``ablation.failure`` tag of a run stopped by this signal says."""
        if self.signum == signal.SIGINT:
            return "interrupted (Ctrl-C, SIGINT)"
        if self.signum == signal.SIGHUP:
            return "interrupted (SIGHUP: the terminal was closed)"
        return f"interrupted ({self.name})"

    def __str__(self) -> str:
        return self.reason


def as_interrupted(err: BaseException | None) -> Interrupted | None:
    """``err`` as a stop signal (an :class:`Interrupted`, or a KeyboardInterrupt: SIGINT),
    else None. An error raised while a stop signal's exception was on its way out (library
    clean-up code that the signal cut short, e.g. SQLAlchemy's ``IllegalStateChangeError``
    wrapped by MLflow, or an error that wraps such one) is that stop signal too: the chain
    of causes and contexts is searched."""
    for e in error_chain(err):
        if isinstance(e, Interrupted):
            return e
        if isinstance(e, KeyboardInterrupt):
            return Interrupted(signal.SIGINT)
    return None


@contextlib.contextmanager
def raise_on_stop_signals() -> Iterator[None]:
    """While inside, a stop signal raises :class:`Interrupted` in the main thread. Code that
    closes runs after it does so under :func:`ignore_stop_signals`. Outside the main thread
    (where Python cannot set handlers) and when already inside, this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is _on_stop_signal:
        yield  # nested: the outer block handles the signals
        return

    previous = {signum: signal.signal(signum, _on_stop_signal) for signum in STOP_SIGNALS}
    previous_hook, sys.unraisablehook = sys.unraisablehook, _unraisable(sys.unraisablehook)
    try:
        yield
    finally:
        sys.unraisablehook = previous_hook
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def ignore_stop_signals() -> Iterator[None]:
    """While inside, stop signals are ignored: for closing runs after the first one."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


#: Inside :func:`deferred` (its depth), and the signals that arrived there.
_deferring: list[bool] = []
_pending: list[int] = []


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A stop signal arriving inside is raised at the end of the block, not in it.

    For what a signal must not split: creating a run and noting its id (the run would be
    left RUNNING with nobody knowing its id until the next start reaps it), and every call
    into the store (:func:`ablation.tracking.retry`). Raised inside SQLAlchemy, the signal's
    exception can leave a write transaction open, holding sqlite's lock while the closing
    code waits for that same lock (8 x 20 s, then the run stays RUNNING), or can come out
    as another exception (``IllegalStateChangeError``, wrapped by MLflow): a failure, not
    a stop. Outside the main thread (where no handler runs) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
        if not _deferring and _pending:
            signum = _pending[0]
            _pending.clear()
            raise Interrupted(signum)


def _on_stop_signal(signum: int, _frame) -> None:
    if _deferring:
        _pending.append(signum)
        return
    raise Interrupted(signum)


def _unraisable(previous):
    """Python drops an exception raised while it runs a finaliser or a weakref callback
    (it prints "Exception ignored in ..." and goes on: here, it would train on). A stop
    signal's exception dropped so is sent again, to be raised at the next chance."""

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, Interrupted):
            # from another thread, a moment later: sent from here, it would be raised (and
            # dropped) in this hook again; if it lands in a finaliser again, it comes back
            resend = threading.Timer(0.05, os.kill, (os.getpid(), unraisable.exc_value.signum))
            resend.daemon = True
            resend.start()
            return
        previous(unraisable)

    return hook
