"""Marking the runs of dead processes KILLED (``tracking.reap_stale``) on a real sqlite store,
with real processes: a zombie is dead, and processes that reap one run at once all go on.
The whole-sweep version: tests/reliability/test_kill_resume.py."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

from ablation import tracking
from ablation.tracking import runs as runs_module
from ablation.tracking.schema import TAG_FAILURE, TAG_HOST, TAG_PID, TAG_PID_START


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    client = tracking.client_for(uri)
    return uri, client, client.create_experiment("reap")


def _run_of(client, exp_id, pid: int, start: str) -> str:
    tags = {TAG_HOST: runs_module.HOST, TAG_PID: str(pid), TAG_PID_START: start}
    return client.create_run(exp_id, tags=tags).info.run_id


def _reap_at_once(uri: str, exp_id: str, n: int) -> tuple[list, list]:
    """``reap_stale`` by ``n`` clients at the same moment: (errors, run ids each reaped)."""
    clients = [tracking.client_for(uri) for _ in range(n)]
    start = threading.Barrier(n)
    errors, reaped = [], []

    def reap(c):
        start.wait()
        try:
            reaped.append(tracking.reap_stale(c, exp_id))
        except Exception as err:  # noqa: BLE001 - the test reports it
            errors.append(err)

    threads = [threading.Thread(target=reap, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors, reaped


def test_the_run_of_a_zombie_process_is_stale_and_reaped(store):
    # A SIGKILLed sweep's workers are orphans until init collects them; until then
    # os.kill(pid, 0) still succeeds and /proc still has their start time.
    _, client, exp_id = store
    proc = subprocess.Popen(["sleep", "0.2"])
    try:
        run_id = _run_of(client, exp_id, proc.pid, runs_module._process_start(proc.pid))
        assert not tracking.is_stale(client.get_run(run_id))  # alive
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # ended, not yet collected
        assert Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        assert tracking.is_stale(client.get_run(run_id))
        assert tracking.reap_stale(client, exp_id) == [run_id]
    finally:
        proc.wait()
    run = client.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.tags[TAG_FAILURE] == runs_module.REAPED


def test_a_live_process_and_one_that_reused_the_pid_are_told_apart(store):
    _, client, exp_id = store
    mine = _run_of(client, exp_id, os.getpid(), runs_module._process_start(os.getpid()))
    reused = _run_of(client, exp_id, os.getpid(), "1")  # our pid, another start time
    assert tracking.reap_stale(client, exp_id) == [reused]
    assert client.get_run(mine).info.status == "RUNNING"


def test_four_processes_reaping_one_run_at_once_all_go_on(store):
    # Each of a sweep's jobs reaps when it opens the store. Two set_tag calls at the same
    # moment: MLflow looks for the tag, then inserts it, and the later insert failed on the
    # store's unique key ("UNIQUE constraint failed: tags.key, tags.run_uuid"), failing
    # that job (seen in 10 of 20 rounds like these before the fix).
    uri, client, exp_id = store
    for _ in range(10):
        run_id = _run_of(client, exp_id, 2**22 + 1, "")  # above Linux's pid_max: no process
        errors, reaped = _reap_at_once(uri, exp_id, 4)
        assert not errors, errors
        assert any(run_id in ids for ids in reaped)
        run = client.get_run(run_id)
        assert (run.info.status, run.data.tags[TAG_FAILURE]) == ("KILLED", runs_module.REAPED)
