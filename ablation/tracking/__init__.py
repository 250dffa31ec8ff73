"""MLflow store: the one owner of how runs are stored and read back.

- :mod:`~ablation.tracking.uri`: where a store lives (one resolver for sweep, report, UI)
  and which URIs are refused (in-memory, ...); no MLflow import.
- :mod:`~ablation.tracking.schema`: tag names, metric keys, a run's typed config.
- :mod:`~ablation.tracking.store`: checks before MLflow opens a store; a writer client
  (:func:`client_for`) and a read-only one (:func:`open_reader`).
- :mod:`~ablation.tracking.runs`: experiments, parent/child runs, resume by config hash.
- :mod:`~ablation.tracking.outage`: store calls wait out a server that stopped answering.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ablation.tracking.outage import (
    HTTP_LIMITS,
    OUTAGE_WAIT_S,
    ServerDown,
    ServerUnreachable,
    check_server,
    limit_http_requests,
    set_wait,
)
from ablation.tracking.schema import (
    EXPERIMENT_KIND,
    MAX_PARAM_LEN,
    MAX_TAG_LEN,
    PARENT_ENV,
    ROLE_CELL,
    ROLE_SWEEP,
    SEED_REASON_ENV,
    SWEEP_HOST_ENV,
    SWEEP_T0_ENV,
    SWEEP_TODO_ENV,
    SWEEP_TOTAL_ENV,
    TAG_CELL,
    TAG_CELL_HASH,
    TAG_CONFIG,
    TAG_CONTRASTS,
    TAG_DATA_CHECKSUM,
    TAG_EXPERIMENT_KIND,
    TAG_FAILURE,
    TAG_GIT_COMMIT,
    TAG_GOAL,
    TAG_HASH,
    TAG_HOST,
    TAG_METRIC,
    TAG_OVERRIDES,
    TAG_PARENT,
    TAG_PID,
    TAG_PID_START,
    TAG_ROLE,
    TAG_SEED_REASON,
    config_from_params,
    metric_key,
    run_config,
)
from ablation.tracking.uri import (
    STORE_SCHEMES,
    TrackingError,
    artifact_root,
    check_uri,
    file_store_path,
    resolve_uri,
    sqlite_path,
)

# runs, store and limits import MLflow (seconds): loaded on first use of one of their names,
# so a process that stops before it opens a store (bad input, --help) never imports MLflow
_LAZY = {
    "check_limits": "limits",
    "max_run_name": "limits",
    "HOST": "runs",
    "MetricBuffer": "runs",
    "claim_cell": "runs",
    "ensure_experiment": "runs",
    "finished_hashes": "runs",
    "git_commit": "runs",
    "is_stale": "runs",
    "log_params": "runs",
    "mark_training_experiment": "runs",
    "quote": "runs",
    "reap_stale": "runs",
    "runs_with_hash": "runs",
    "search": "runs",
    "set_tags": "runs",
    "start_run": "runs",
    "check_sqlite_file": "store",
    "check_store": "store",
    "check_store_file": "store",
    "client_for": "store",
    "open_reader": "store",
    "retry": "store",
    "sqlite_kind": "store",
    "store_lock": "store",
}

if TYPE_CHECKING:
    from ablation.tracking.limits import (
        check_limits,
        max_run_name,
    )
    from ablation.tracking.runs import (
        HOST,
        MetricBuffer,
        claim_cell,
        ensure_experiment,
        finished_hashes,
        git_commit,
        is_stale,
        log_params,
        mark_training_experiment,
        quote,
        reap_stale,
        runs_with_hash,
        search,
        set_tags,
        start_run,
    )
    from ablation.tracking.store import (
        check_sqlite_file,
        check_store,
        check_store_file,
        client_for,
        open_reader,
        retry,
        sqlite_kind,
        store_lock,
    )


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "EXPERIMENT_KIND",
    "HOST",
    "HTTP_LIMITS",
    "MAX_PARAM_LEN",
    "MAX_TAG_LEN",
    "OUTAGE_WAIT_S",
    "PARENT_ENV",
    "ROLE_CELL",
    "ROLE_SWEEP",
    "SEED_REASON_ENV",
    "ServerDown",
    "ServerUnreachable",
    "STORE_SCHEMES",
    "SWEEP_HOST_ENV",
    "SWEEP_T0_ENV",
    "SWEEP_TODO_ENV",
    "SWEEP_TOTAL_ENV",
    "TAG_CELL",
    "TAG_CELL_HASH",
    "TAG_CONFIG",
    "TAG_DATA_CHECKSUM",
    "TAG_EXPERIMENT_KIND",
    "TAG_FAILURE",
    "TAG_GIT_COMMIT",
    "TAG_HASH",
    "TAG_HOST",
    "TAG_OVERRIDES",
    "TAG_PARENT",
    "TAG_PID",
    "TAG_PID_START",
    "TAG_ROLE",
    "TAG_SEED_REASON",
    "TAG_METRIC",
    "TAG_GOAL",
    "TAG_CONTRASTS",
    "MetricBuffer",
    "TrackingError",
    "artifact_root",
    "check_limits",
    "check_server",
    "check_sqlite_file",
    "check_store",
    "check_store_file",
    "check_uri",
    "claim_cell",
    "client_for",
    "config_from_params",
    "ensure_experiment",
    "file_store_path",
    "finished_hashes",
    "git_commit",
    "is_stale",
    "limit_http_requests",
    "log_params",
    "mark_training_experiment",
    "max_run_name",
    "metric_key",
    "open_reader",
    "quote",
    "reap_stale",
    "resolve_uri",
    "retry",
    "run_config",
    "runs_with_hash",
    "search",
    "set_tags",
    "set_wait",
    "sqlite_kind",
    "sqlite_path",
    "start_run",
    "store_lock",
]
