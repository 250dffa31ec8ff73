"""Claiming a cell (``tracking.claim_cell``) on a real sqlite store: runs that race for one
cell agree on one owner, whatever order their inserts commit in and whatever their start
times say. The whole-sweep version of these races: tests/reliability/test_concurrency.py."""

from __future__ import annotations

import os
import threading
import time

import pytest

from ablation import tracking
from ablation.tracking import runs as runs_module
from ablation.tracking.schema import TAG_HASH, TAG_HOST, TAG_PID, TAG_TICKET

HASH = "0123456789abcdef"


@pytest.fixture
def store(tmp_path):
    client = tracking.client_for(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    return client, client.create_experiment("claims")


def _live(client, exp_id) -> list:
    return [
        r
        for r in tracking.runs_with_hash(client, exp_id, HASH)
        if r.info.status in ("RUNNING", "FINISHED")
    ]


def _bare_run(client, exp_id, *, start_time=None, ticket=None, config_hash=HASH) -> str:
    """A run of this live process for the cell, created the way ``start_run`` creates one
    but with the start time given, and optionally a ticket already taken."""
    tags = {TAG_HASH: config_hash, TAG_HOST: runs_module.HOST, TAG_PID: str(os.getpid())}
    if ticket is not None:
        tags[TAG_TICKET] = str(ticket)
    return client.create_run(exp_id, start_time=start_time, tags=tags).info.run_id


def test_a_lone_claim_owns_the_cell_with_ticket_one(store):
    client, exp_id = store
    run_id, owner = tracking.claim_cell(client, exp_id, HASH, name="cell", tags={})
    assert owner is None
    assert client.get_run(run_id).data.tags[TAG_TICKET] == "1"


def test_a_run_its_rival_did_not_see_yields_even_with_the_older_start_time(store):
    # The race CI hit (one cell FINISHED twice): B takes its start time, A's run commits,
    # A looks and sees only itself, so A trains; then B's insert commits. The old rule
    # ("the oldest start time wins") made B the owner too.
    client, exp_id = store
    a, owner_a = tracking.claim_cell(client, exp_id, HASH, name="a", tags={})
    assert owner_a is None
    a_start = client.get_run(a).info.start_time
    b = _bare_run(client, exp_id, start_time=a_start - 1000)
    b_id, owner_b = runs_module._settle(client, exp_id, HASH, b)
    assert b_id is None and owner_b.info.run_id == a
    assert [r.info.run_id for r in _live(client, exp_id)] == [a]
    lost = client.get_run(b)
    assert lost.info.status == "KILLED" and lost.info.lifecycle_stage == "deleted"


def test_a_finished_run_of_the_cell_is_never_trained_again(store):
    client, exp_id = store
    done = _bare_run(client, exp_id, ticket=7)
    client.set_terminated(done, status="FINISHED")
    run_id, owner = tracking.claim_cell(client, exp_id, HASH, name="again", tags={})
    assert run_id is None and owner.info.run_id == done


def test_a_smaller_ticket_wins(store):
    client, exp_id = store
    holder = _bare_run(client, exp_id, ticket=1)
    run_id, owner = tracking.claim_cell(client, exp_id, HASH, name="late", tags={})
    assert run_id is None and owner.info.run_id == holder
    assert client.get_run(holder).info.status == "RUNNING"


def test_of_two_runs_with_the_same_ticket_the_smaller_run_id_goes_first(store):
    # two runs that took the same ticket (each looked before the other had one): the later
    # claimant takes 4 and yields to the one both of them would pick
    client, exp_id = store
    x, y = (_bare_run(client, exp_id, ticket=3) for _ in range(2))
    run_id, owner = tracking.claim_cell(client, exp_id, HASH, name="late", tags={})
    assert run_id is None and owner.info.run_id == min(x, y)


def test_a_rerun_trains_anyway_and_claimants_yield_to_it_without_waiting(store, monkeypatch):
    # rerun=true: its run holds ticket 0 from its creation, so nobody waits for its ticket
    monkeypatch.setattr(runs_module, "CLAIM_WAIT_S", 60.0)
    client, exp_id = store
    holder, _ = tracking.claim_cell(client, exp_id, HASH, name="first", tags={})
    rerun, owner = tracking.claim_cell(client, exp_id, HASH, name="rerun", tags={}, always=True)
    assert rerun is not None and owner is None
    assert client.get_run(rerun).data.tags[TAG_TICKET] == "0"
    started = time.monotonic()
    run_id, owner = tracking.claim_cell(client, exp_id, HASH, name="third", tags={})
    assert run_id is None and owner.info.run_id == rerun
    assert time.monotonic() - started < 10


def test_a_rival_that_never_takes_a_ticket_goes_first_after_the_wait(store, monkeypatch):
    # A live run without a ticket (a writer of an older version, or one stalled between its
    # two writes) is waited for, then treated as first: never two owners.
    monkeypatch.setattr(runs_module, "CLAIM_WAIT_S", 0.3)
    client, exp_id = store
    silent = _bare_run(client, exp_id)
    run_id, owner = tracking.claim_cell(client, exp_id, HASH, name="waits", tags={})
    assert run_id is None and owner.info.run_id == silent


@pytest.mark.parametrize("n", [2, 4])
def test_runs_that_claim_at_once_agree_on_one_owner(store, n):
    client, exp_id = store
    for attempt in range(5):
        cell_hash = f"{HASH[:-2]}{n}{attempt}"
        # all of them exist before any has a ticket: each must wait for the others
        created = [_bare_run(client, exp_id, config_hash=cell_hash) for _ in range(n)]
        results: dict[str, tuple] = {}
        start = threading.Barrier(n)
        args = (results, start, client, exp_id, cell_hash)
        threads = [threading.Thread(target=_settle_into, args=(*args, r)) for r in created]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        owners = [r for r, (mine, _) in results.items() if mine is not None]
        assert len(results) == n and len(owners) == 1, results
        (winner,) = owners
        assert all(owner.info.run_id == winner for mine, owner in results.values() if mine is None)


def _settle_into(results: dict, start: threading.Barrier, client, exp_id, cell_hash, run_id):
    start.wait()  # every thread settles at the same moment
    results[run_id] = runs_module._settle(client, exp_id, cell_hash, run_id)
