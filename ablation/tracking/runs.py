"""Experiments and runs: create, claim a cell, resume by config hash, reap dead runs, log.

Everything here talks to MLflow through :class:`MlflowClient` with an explicit
tracking URI, never through MLflow's global "active run" state, so several sweeps
and several stores can live in one process. The names of what is stored are in
:mod:`ablation.tracking.schema`.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from ablation.tracking.limits import max_run_name
from ablation.tracking.schema import (
    EXPERIMENT_KIND,
    MAX_PARAM_LEN,
    TAG_CONFIG,
    TAG_EXPERIMENT_KIND,
    TAG_FAILURE,
    TAG_HASH,
    TAG_HOST,
    TAG_PID,
    TAG_PID_START,
    TAG_TICKET,
    TAG_TOKEN,
    config_tag,
)
from ablation.tracking.store import retry, store_lock
from ablation.tracking.uri import artifact_root

HOST = socket.gethostname()


def ensure_experiment(client: MlflowClient, uri: str, name: str) -> str:
    """The id of experiment ``name``, created (race-safely) if missing; restores a deleted one.

    Our experiments carry :data:`EXPERIMENT_KIND` (:func:`mark_training_experiment`).
    """
    with store_lock(uri):
        exp = retry(client.get_experiment_by_name, name)
        if exp is None:
            try:
                return retry(
                    client.create_experiment,
                    name,
                    artifact_location=artifact_root(uri),
                    tags={TAG_EXPERIMENT_KIND: EXPERIMENT_KIND},
                )
            except MlflowException as err:  # another sweep on the server was first, or our
                if err.error_code != "RESOURCE_ALREADY_EXISTS":  # answer was lost in an outage
                    raise
                exp = retry(client.get_experiment_by_name, name)
        if exp.lifecycle_stage == "deleted":
            retry(client.restore_experiment, exp.experiment_id)
        mark_training_experiment(client, exp)
        return exp.experiment_id


def mark_training_experiment(client: MlflowClient, exp) -> None:
    """Tag ``exp`` so MLflow's UI opens on its training view (runs, charts), not on GenAI
    traces. A kind someone chose is kept; a missing or UI-inferred one is replaced."""
    kind = (exp.tags or {}).get(TAG_EXPERIMENT_KIND, "")
    if kind == EXPERIMENT_KIND or (
        kind and not kind.endswith("inferred") and kind != "no_inferred_type"
    ):
        return
    retry(client.set_experiment_tag, exp.experiment_id, TAG_EXPERIMENT_KIND, EXPERIMENT_KIND)


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def search(
    client: MlflowClient, exp_id: str, filter_string: str, view: int = ViewType.ACTIVE_ONLY
) -> list:
    """All runs of an experiment matching ``filter_string`` (every page; active by default)."""
    runs, token = [], None
    while True:
        page = retry(
            client.search_runs,
            [exp_id],
            filter_string=filter_string,
            run_view_type=view,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def runs_with_hash(client: MlflowClient, exp_id: str, config_hash: str, status: str | None = None):
    query = f"tags.`{TAG_HASH}` = {quote(config_hash)}"
    if status:
        query += f" and attributes.status = {quote(status)}"
    return search(client, exp_id, query)


def finished_hashes(client: MlflowClient, exp_id: str) -> dict[str, Any]:
    """config_hash -> newest FINISHED run, for every hash in the experiment."""
    done: dict[str, Any] = {}
    for run in search(client, exp_id, "attributes.status = 'FINISHED'"):
        key = run.data.tags.get(TAG_HASH)
        if key and (key not in done or run.info.start_time > done[key].info.start_time):
            done[key] = run
    return done


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still runs. A zombie does not: it has ended and only waits
    for its parent (or init, once orphaned) to collect its exit status, which can take a
    while after a SIGKILL of a whole sweep."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return _proc_stat(pid)[:1] not in (["Z"], ["X"])


def _proc_stat(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state first); [] if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return stat.rsplit(")", 1)[-1].split()


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc); '' if unknown."""
    fields = _proc_stat(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22 of stat


def is_stale(run) -> bool:
    """A RUNNING run started on this host by a process that no longer exists.

    A live process with the run's pid but another start time is a different process
    that reused the pid: the run's own process is gone.
    """
    tags = run.data.tags
    if run.info.status != "RUNNING" or tags.get(TAG_HOST) != HOST:
        return False
    try:
        pid = int(tags.get(TAG_PID, ""))
    except ValueError:
        return False
    if not _pid_alive(pid):
        return True
    started = tags.get(TAG_PID_START)
    return bool(started) and _process_start(pid) not in ("", started)


#: the failure tag of a run whose process died without closing it
REAPED = "killed: its process died"


def reap_stale(client: MlflowClient, exp_id: str, runs=None) -> list[str]:
    """Mark RUNNING runs of dead local processes KILLED; return their ids.

    Several processes may reap one run at once: a sweep and each of its jobs look when they
    open the store. MLflow's ``set_tag`` looks for the tag, then inserts it, so the later of
    two at the same moment fails on the store's unique key. That one finds the tag set (by
    the other) and goes on."""
    if runs is None:
        runs = search(client, exp_id, "attributes.status = 'RUNNING'")
    reaped = []
    for run in runs:
        if is_stale(run):
            run_id = run.info.run_id
            try:
                retry(client.set_tag, run_id, TAG_FAILURE, REAPED)
            except MlflowException:
                if TAG_FAILURE not in retry(client.get_run, run_id).data.tags:
                    raise
            retry(client.set_terminated, run_id, status="KILLED")
            reaped.append(run_id)
    return reaped


def start_run(client: MlflowClient, exp_id: str, *, name: str, tags: dict[str, str]) -> str:
    """Create a RUNNING run of this process; its id. Created once, even when the server's
    answer is lost in an outage and the call is retried: a retry first looks for the run by
    its :data:`TAG_TOKEN`."""
    pid = os.getpid()
    token = uuid.uuid4().hex
    tags = {
        TAG_HOST: HOST,
        TAG_PID: str(pid),
        TAG_PID_START: _process_start(pid),
        TAG_TOKEN: token,
        **tags,
    }
    if not tags[TAG_PID_START]:  # no /proc here: the pid alone identifies the process
        del tags[TAG_PID_START]
    tried = []

    def create():
        if tried:
            found = client.search_runs([exp_id], f"tags.`{TAG_TOKEN}` = '{token}'")
            if found:
                return found[0]
        tried.append(True)
        return client.create_run(exp_id, tags=tags, run_name=name[: max_run_name()])

    return retry(create).info.run_id


#: how long a claim waits for a rival run that has no ticket yet (normally milliseconds: it
#: was created and is looking); a rival still without one after this goes first
CLAIM_WAIT_S = 30.0


def claim_cell(
    client: MlflowClient,
    exp_id: str,
    config_hash: str,
    *,
    name: str,
    tags: dict[str, str],
    always: bool = False,
) -> tuple[str | None, Any]:
    """Create the run of a cell unless another process owns it (``always``: create it anyway,
    for ``rerun=true``, holding ticket 0 so that other claimants yield to it at once).

    Lamport's bakery algorithm, with the cell's live runs as its processes: a new run is
    created without a ticket, looks at the cell's runs, and takes the ticket one above every
    ticket it sees (tag :data:`TAG_TICKET`). It then waits until no live rival is still
    without a ticket, and owns the cell unless a rival is FINISHED or holds a smaller
    ``(ticket, run id)``; a run that does not own the cell closes and deletes itself. A rival
    that shows up after our ticket was visible sees it, so takes a larger one: two sweeps
    racing for one cell train it once. (Letting the oldest ``start_time`` win was not enough:
    a run's start time is taken before its insert commits, so a run that another's look
    missed could still be the older one, and both trained the cell.)
    Returns ``(run_id, None)`` if we own the cell, else ``(None, owner_run)``.
    """
    tags = {TAG_HASH: config_hash, **tags}
    if always:
        return start_run(client, exp_id, name=name, tags={**tags, TAG_TICKET: "0"}), None
    run_id = start_run(client, exp_id, name=name, tags=tags)
    return _settle(client, exp_id, config_hash, run_id)


def _settle(client: MlflowClient, exp_id: str, config_hash: str, run_id: str):
    """The claim of our new run ``run_id`` (no ticket yet): ``claim_cell``'s result."""
    tickets = [_ticket(r) for r in _live_rivals(client, exp_id, config_hash, run_id)]
    mine = 1 + max((t for t in tickets if t is not None), default=0)
    set_tags(client, run_id, {TAG_TICKET: mine})
    deadline = time.monotonic() + CLAIM_WAIT_S
    while True:
        rivals = _live_rivals(client, exp_id, config_hash, run_id)
        choosing = [r for r in rivals if r.info.status == "RUNNING" and _ticket(r) is None]
        if not choosing or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    finished = [r for r in rivals if r.info.status == "FINISHED"]
    if finished:
        owner = min(finished, key=lambda r: r.info.start_time)
    else:  # the rival with the smallest (ticket, run id) goes first if it is ahead of ours
        owner = min(rivals, key=_place, default=None)
        if owner is not None and _place(owner) > (mine, run_id):
            owner = None
    if owner is None:
        return run_id, None
    retry(client.set_terminated, run_id, status="KILLED")  # not left RUNNING, even deleted
    retry(client.delete_run, run_id)
    return None, owner


def _live_rivals(client: MlflowClient, exp_id: str, config_hash: str, run_id: str) -> list:
    """The cell's other runs that hold or may take it: RUNNING (and not stale) or FINISHED."""
    return [
        r
        for r in runs_with_hash(client, exp_id, config_hash)
        if r.info.run_id != run_id and r.info.status in ("RUNNING", "FINISHED") and not is_stale(r)
    ]


def _place(run) -> tuple[int, str]:
    """A rival's place in the claim; one still without a ticket (after the wait) goes first."""
    return _ticket(run) or 0, run.info.run_id


def _ticket(run) -> int | None:
    """A run's claim ticket; ``None`` while it has none (or a tag that is not a number)."""
    try:
        return int(run.data.tags[TAG_TICKET])
    except (KeyError, ValueError):
        return None


def log_params(client: MlflowClient, run_id: str, params: dict[str, Any]) -> None:
    """Log a flattened config: as params (strings, for MLflow's UI and filters) and, in the
    same first batch, as the JSON tag :data:`TAG_CONFIG` that keeps the types (read back by
    :func:`~ablation.tracking.schema.run_config`)."""
    items = [Param(k, _param_str(v)) for k, v in sorted(params.items())]
    text = config_tag(params)
    tags = [RunTag(TAG_CONFIG, text)] if text is not None else []
    for i in range(0, max(len(items), 1), 100):
        retry(client.log_batch, run_id, params=items[i : i + 100], tags=tags if i == 0 else [])


def _param_str(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_LEN else text[: MAX_PARAM_LEN - 3] + "..."


def set_tags(client: MlflowClient, run_id: str, tags: dict[str, Any]) -> None:
    retry(client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


class MetricBuffer:
    """Collect ``split/name`` metrics and write them with ``log_batch`` every few seconds."""

    def __init__(self, client: MlflowClient, run_id: str, every_s: float = 10.0):
        self.client, self.run_id, self.every_s = client, run_id, every_s
        self.pending: list[Metric] = []
        self.last_flush = time.monotonic()

    def add(self, step: int, metrics: dict[str, float]) -> None:
        now = int(time.time() * 1000)
        self.pending.extend(Metric(k, float(v), now, int(step)) for k, v in metrics.items())
        if time.monotonic() - self.last_flush > self.every_s:
            self.flush()

    def flush(self) -> None:
        while self.pending:
            chunk, self.pending = self.pending[:1000], self.pending[1000:]
            retry(self.client.log_batch, self.run_id, metrics=chunk)
        self.last_flush = time.monotonic()


@functools.cache
def git_commit() -> str:
    """The commit of the checkout this package runs from, or '' when installed from a wheel."""
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return ""
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() + ("-dirty" if dirty else "")
