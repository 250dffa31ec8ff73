"""The run schema: tag names, metric keys, and a run's config read back, typed.

Layout of a study in the store (the report relies on it):

- one experiment per study (``experiment_name``), tagged ``mlflow.experimentKind`` =
  ``custom_model_development`` so MLflow's UI opens on its training view;
- one parent run per sweep, tag ``ablation.role=sweep``, created before any job starts;
- one child run per cell and seed, tag ``ablation.role=cell``, nested under the parent
  (``mlflow.parentRunId``), identified by ``ablation.config_hash`` (resume) and
  ``ablation.cell_hash`` (seeds);
- params: the flattened config as strings (MLflow's UI and filters); the same config as
  one JSON tag ``ablation.config`` with its types (:func:`run_config` reads it back);
- metrics: ``split/name`` keys (:func:`metric_key`), one value per logged step.
"""

from __future__ import annotations

import ast
import json
from typing import Any

TAG_ROLE = "ablation.role"
TAG_HASH = "ablation.config_hash"
TAG_CELL_HASH = "ablation.cell_hash"
TAG_CELL = "ablation.cell"
TAG_CONFIG = "ablation.config"
TAG_FAILURE = "ablation.failure"
TAG_OVERRIDES = "ablation.overrides"
TAG_HOST = "ablation.host"
TAG_PID = "ablation.pid"
TAG_PID_START = "ablation.pid_start"
TAG_TOKEN = "ablation.create_token"  # unique per created run: a retried create finds it
TAG_TICKET = "ablation.claim_ticket"  # a cell run's number in the claim (runs.claim_cell)
TAG_GIT_COMMIT = "ablation.git_commit"
TAG_DATA_CHECKSUM = "ablation.data_checksum"
TAG_PARENT = "mlflow.parentRunId"
TAG_NOTE = "mlflow.note.content"  # MLflow's run description (its "Description" box)
TAG_SEED_REASON = "ablation.seed_reason"  # seeds=auto: why this run ran
TAG_DATA_SOURCE = "ablation.data_source"  # where the cell's data came from, for humans
TAG_THREADS = "ablation.threads"  # the MLP's row-block threads
TAG_BLAS_THREADS = "ablation.blas_threads"  # the BLAS limit ("all": none)
#: how results are judged (``task.metric``, ``task.goal`` max|min), on cell and sweep runs
TAG_METRIC = "ablation.metric"
TAG_GOAL = "ablation.goal"
TAG_CONTRASTS = "ablation.report_contrasts"  # the study's declared contrasts (a JSON list)
#: on the sweep run: the command as typed and what the grid varies (comma-separated), for
#: the description written at the sweep's end
TAG_COMMAND = "ablation.command"
TAG_VARIES = "ablation.varies"
ROLE_SWEEP, ROLE_CELL = "sweep", "cell"

# tags of a sweep's parent run
TAG_SWEEP_DIR = "ablation.sweep_dir"
TAG_N_CELLS = "ablation.n_cells"
TAG_N_TODO = "ablation.n_todo"
TAG_N_FINISHED = "ablation.n_finished"
TAG_N_FAILED = "ablation.n_failed"
TAG_FAILED_CELLS = "ablation.failed_cells"
TAG_BEST_CELL = "ablation.best_cell"
TAG_BEST_RUN = "ablation.best_run_id"
TAG_SEEDS_AUTO_ROUNDS = "ablation.seeds_auto.rounds"
TAG_SEEDS_AUTO_DECIDED = "ablation.seeds_auto.decided"
TAG_SEEDS_AUTO_UNDECIDED = "ablation.seeds_auto.undecided"

#: Metrics the framework itself logs for every run (the task logs the rest).
METRIC_FIT_S = "time/fit_s"  # training alone
METRIC_TOTAL_S = "time/total_s"  # the whole job: data, training, artifacts, store

#: Experiment tag MLflow's UI reads to choose its view, and our value (MLflow 3.x).
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"

PARENT_ENV = "ABLATION_PARENT_RUN_ID"
SWEEP_TOTAL_ENV = "ABLATION_SWEEP_TOTAL"
SWEEP_TODO_ENV = "ABLATION_SWEEP_TODO"
SWEEP_T0_ENV = "ABLATION_SWEEP_T0"
SWEEP_HOST_ENV = "ABLATION_SWEEP_HOST"
#: the sweep's store, resolved once by the sweep: every job of it writes there
SWEEP_URI_ENV = "ABLATION_SWEEP_URI"
#: why a seeds=auto job runs (its hydra.job.env_set), kept as the run's TAG_SEED_REASON
SEED_REASON_ENV = "ABLATION_SEED_REASON"
#: how TAG_SEED_REASON starts for a seeds=auto cell's first seeds, launched before any
#: result was seen; any other reason marks a seed added after looking at the first ones
FIRST_ROUND_REASON = "round 1:"


def seed_added(reason: str | None) -> bool:
    """Whether a run's TAG_SEED_REASON says seeds=auto added it after seeing results."""
    return bool(reason) and not reason.startswith(FIRST_ROUND_REASON)


#: MLflow's limits (mlflow.utils.validation; not imported here: this module must not load
#: MLflow; tests/unit/test_tracking_limits.py checks they still agree)
MAX_PARAM_LEN = 6000  # MLflow's limit for one param value
MAX_TAG_LEN = 8000  # MLflow's limit for one tag value


def metric_key(split: str, name: str) -> str:
    """The stored key of a metric: ``metric_key("test", "acc") == "test/acc"``."""
    return f"{split}/{name}"


def config_tag(params: dict[str, Any]) -> str | None:
    """The JSON of a flattened config for :data:`TAG_CONFIG`; None if MLflow would refuse it."""
    text = json.dumps(params, sort_keys=True, default=str)
    return text if len(text) <= MAX_TAG_LEN else None


def run_config(run) -> dict[str, Any]:
    """The flattened config a run was logged with, with its types (``data.n_train`` an int
    or None, ``model.hidden`` a list, ...).

    Read from the JSON tag written with the params; runs logged before that tag existed
    (or with a config too long for a tag) fall back to :func:`config_from_params`.
    """
    text = run.data.tags.get(TAG_CONFIG)
    if text:
        try:
            config = json.loads(text)
        except ValueError:
            config = None
        if isinstance(config, dict):
            return config
    return config_from_params(run.data.params)


def config_from_params(params: dict[str, str]) -> dict[str, Any]:
    """Typed values from MLflow's string params: only for runs without the JSON tag.

    'None' -> None, '42000' -> 42000, '0.1' -> 0.1, 'True' -> True, '[200, 20]' -> [200, 20],
    anything else unchanged. A string param that looks like a number comes back as one:
    that ambiguity is why the config is also logged as JSON.
    """
    return {key: _parse_param(text) for key, text in params.items()}


def _parse_param(text: str | None) -> Any:
    if text is None:
        return None
    s = str(text).strip()
    if s in ("None", "null", ""):
        return None
    for cast in (int, float):
        try:
            return cast(s)
        except ValueError:
            pass
    if s in ("True", "False"):
        return s == "True"
    if s[:1] in "[{(" and s[-1:] in "]})":
        try:
            return ast.literal_eval(s)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            pass
    return s
