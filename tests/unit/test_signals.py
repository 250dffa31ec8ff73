"""Stop signals in this process: a signal during a store call is raised after the call, and
an error that a stop signal's exception turned into (library clean-up cut short) is still
that stop signal."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from ablation.errors import exit_status
from ablation.run.signals import Interrupted, as_interrupted, deferred, raise_on_stop_signals
from ablation.tracking import retry


def _sends_term_then_works(done: list) -> int:
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(200):  # the handler runs at one of these calls, inside the store call
        time.sleep(0.001)
    done.append("returned")
    return 7


def test_a_stop_signal_during_a_store_call_is_raised_after_the_call_returns():
    done: list = []
    with raise_on_stop_signals(), pytest.raises(Interrupted) as caught:
        retry(_sends_term_then_works, done)
    assert done == ["returned"]
    assert caught.value.signum == signal.SIGTERM


def test_without_deferring_the_same_call_is_cut_short():
    """The check above can fail: undeferred, the signal lands inside the call."""
    done: list = []
    with raise_on_stop_signals(), pytest.raises(Interrupted):
        _sends_term_then_works(done)
    assert done == []


def test_a_signal_is_raised_once_at_the_end_of_the_outermost_deferred_block():
    done: list = []
    with raise_on_stop_signals(), pytest.raises(Interrupted), deferred():
        retry(_sends_term_then_works, done)
        done.append("after the inner block")
    assert done == ["returned", "after the inner block"]


def test_deferred_outside_the_main_thread_defers_nothing_of_the_main_thread():
    entered = threading.Event()
    release = threading.Event()

    def worker() -> None:
        with deferred():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    entered.wait(10)
    try:
        with raise_on_stop_signals(), pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(200):
                time.sleep(0.001)
            pytest.fail("the signal was deferred by another thread's block")
    finally:
        release.set()
        thread.join(10)


def _raised_while_stopping(stop: BaseException, *, suppress: bool) -> Exception:
    """What MLflow does when SQLAlchemy's clean-up fails because a signal cut it short."""
    try:
        try:
            raise stop
        except BaseException:
            raise RuntimeError("Method 'close()' can't be called here") from None
    except RuntimeError as cleanup:
        try:
            if suppress:
                raise ValueError(f"wrapped: {cleanup}") from None
            raise ValueError(f"wrapped: {cleanup}") from cleanup
        except ValueError as wrapped:
            return wrapped


@pytest.mark.parametrize("suppress", [False, True], ids=["from-err", "from-None"])
def test_an_error_raised_while_a_stop_signal_propagated_is_that_stop_signal(suppress):
    err = _raised_while_stopping(Interrupted(signal.SIGTERM), suppress=suppress)
    stop = as_interrupted(err)
    assert stop is not None and stop.signum == signal.SIGTERM
    assert exit_status(err) == (143, "stopped: interrupted (SIGTERM)")
    ctrl_c = as_interrupted(_raised_while_stopping(KeyboardInterrupt(), suppress=suppress))
    assert ctrl_c is not None and ctrl_c.exit_code == 130


def test_an_ordinary_error_is_no_stop_signal_even_in_a_cycle():
    first, second = ValueError("a"), RuntimeError("b")
    first.__context__, second.__context__ = second, first
    assert as_interrupted(first) is None
    assert as_interrupted(None) is None
    assert exit_status(first)[0] == 1
