"""The suite's warm start (tests/zygote.py): a forked command must look, from inside and
from outside, like ``python -m`` in a fresh interpreter. Each check runs the same command
both ways and compares."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests import zygote

PROBE = textwrap.dedent(
    """
    import atexit, json, os, sys, threading, time
    what = sys.argv[1]
    print(json.dumps({
        "argv": sys.argv, "path0": sys.path[0], "cwd": os.getcwd(),
        "env": os.environ.get("ABLATION_PROBE"), "name": __name__,
        "session": os.getsid(0) == os.getpid(),
    }), flush=True)
    atexit.register(lambda: print("atexit ran", flush=True))
    if what == "thread":  # a non-daemon thread is waited for before atexit
        threading.Thread(target=lambda: (time.sleep(0.3), print("thread done"))).start()
    if what == "exit3":
        sys.exit(3)
    if what == "exit-text":
        sys.exit("stopped: a reason")
    if what == "raise":
        raise ValueError("boom")
    if what == "interrupt":
        raise KeyboardInterrupt
    if what == "wait":
        print("waiting", flush=True)
        time.sleep(60)
    """
)


@pytest.fixture
def probe(tmp_path):
    """A user's module in the working directory, run as ``python -m probe``."""
    (tmp_path / "probe.py").write_text(PROBE)
    return tmp_path


def both(probe, *args, env=None, **kwargs):
    """(fresh, forked) CompletedProcess of ``python -m probe args``."""
    full = {**os.environ, "PYTHONUNBUFFERED": "1", "ABLATION_PROBE": "x", **(env or {})}
    cmd = [sys.executable, "-m", "probe", *args]
    kw = dict(cwd=probe, env=full, capture_output=True, text=True, timeout=60, **kwargs)
    return subprocess.run(cmd, **kw), zygote.run(cmd, **kw)


@pytest.mark.parametrize("what", ["done", "thread", "exit3", "exit-text", "raise", "interrupt"])
def test_a_forked_command_ends_like_a_fresh_one(probe, what):
    fresh, forked = both(probe, what)
    assert forked.returncode == fresh.returncode
    assert forked.stdout == fresh.stdout  # argv, sys.path[0], cwd, env, __main__, atexit
    assert forked.stderr == fresh.stderr  # a traceback without frames of the zygote's own


def test_the_zygote_is_used_and_a_start_up_variable_takes_a_fresh_interpreter(probe):
    if os.environ.get("ABLATION_TEST_FRESH") == "1":
        pytest.skip("ABLATION_TEST_FRESH=1: every command runs in a fresh interpreter")
    cmd = [sys.executable, "-m", "probe", "done"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    forked = zygote.Popen(cmd, cwd=probe, env=env, stdout=subprocess.PIPE)
    assert isinstance(forked, zygote.Forked)
    forked.communicate(timeout=60)
    assert forked.returncode == 0
    for key in ("OMP_NUM_THREADS", "PYTHONPATH", "MPLBACKEND", "TMPDIR"):
        fresh = zygote.Popen(cmd, cwd=probe, env={**env, key: "1"}, stdout=subprocess.PIPE)
        assert isinstance(fresh, subprocess.Popen), key
        fresh.communicate(timeout=60)


@pytest.mark.parametrize("new_session", [False, True])
def test_a_forked_command_streams_its_output_and_dies_of_a_signal(probe, new_session):
    cmd = [sys.executable, "-m", "probe", "wait"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = zygote.Popen(
        cmd,
        cwd=probe,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=new_session,
    )
    first = proc.stdout.readline()
    assert f'"session": {str(new_session).lower()}' in first
    assert proc.stdout.readline() == "waiting\n"  # line by line, while it runs
    assert proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        proc.wait(timeout=0.2)
    if new_session:
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.terminate()
    assert proc.wait(timeout=30) == -signal.SIGTERM
    proc.stdout.close()


def test_run_kills_a_command_at_its_timeout_and_keeps_what_it_printed(probe):
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as hung:
        zygote.run(
            [sys.executable, "-m", "probe", "wait"],
            cwd=probe,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            capture_output=True,
            text=True,
            timeout=1,
        )
    assert time.monotonic() - t0 < 30
    assert "waiting" in hung.value.output


def test_the_cli_refuses_bad_input_the_same_way_forked_and_fresh(workdir):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "ablation", "init=nope", "optim.iterations=1"]
    kw = dict(cwd=workdir, env=env, capture_output=True, text=True, timeout=120)
    fresh, forked = subprocess.run(cmd, **kw), zygote.run(cmd, **kw)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode,
        fresh.stdout,
        fresh.stderr,
    )
    assert fresh.returncode == 2
