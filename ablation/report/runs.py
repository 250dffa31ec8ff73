"""Read an MLflow store into tidy pandas tables: one row per child run, metric histories.

Only the MLflow client API is used (no log files, no Hydra output folders). How runs are
stored (tag names, metric keys, where a store lives, paging, a run's typed config) is
:mod:`ablation.tracking`'s; this module only turns runs into tables. The store is opened
read-only and must already exist (:func:`ablation.tracking.open_reader`).
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ablation import tracking
from ablation.config.keys import STUDY_SETTINGS
from ablation.report.errors import ReportError
from ablation.tracking import metric_key, resolve_uri

# final metrics copied into columns: column name -> metric key
FINAL_METRICS = {
    f"{split}_{name}": metric_key(split, name)
    for name in ("acc", "loss")
    for split in ("train", "test", "val")
}
FINAL_METRICS |= {"fit_s": metric_key("time", "fit_s"), "total_s": metric_key("time", "total_s")}
FINAL_METRICS |= {f"recall_{k}": metric_key("test", f"recall_{k}") for k in range(10)}
FINAL_METRICS |= {f"precision_{k}": metric_key("test", f"precision_{k}") for k in range(10)}
# logged as fractions in [0, 1]; the tables hold them in percent
PERCENT_COLUMNS = {
    c for c in FINAL_METRICS if c.endswith("_acc") or c[:-2] in ("recall", "precision")
}


def open_client(tracking_uri: str | None = None):
    """A read-only ``MlflowClient`` on an existing store; ``ReportError`` if it cannot be read."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return tracking.open_reader(tracking_uri)
    except tracking.TrackingError as exc:
        raise ReportError(str(exc)) from None
    except Exception as exc:  # any backend error becomes a user-facing message
        uri = resolve_uri(tracking_uri)
        raise ReportError(f"cannot open MLflow store {uri!r}: {str(exc).splitlines()[0]}") from None


def find_experiment(client, name: str):
    """The experiment called ``name``; ``ReportError`` listing the existing ones otherwise."""
    try:
        exp = client.get_experiment_by_name(name)
        if exp is not None and exp.lifecycle_stage == "active":
            return exp
        names = sorted(e.name for e in client.search_experiments())
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ReportError(f"cannot query experiments in the store: {reason}") from None
    listing = ", ".join(repr(n) for n in names) if names else "(none)"
    raise ReportError(f"unknown experiment {name!r}; experiments in this store: {listing}")


def _search(client, experiment_id: str, filter_string: str) -> list:
    from mlflow.exceptions import MlflowException

    try:
        return tracking.search(client, experiment_id, filter_string)
    except MlflowException as exc:
        if exc.error_code in ("INVALID_PARAMETER_VALUE", "BAD_REQUEST"):
            raise ReportError(f"bad run filter {filter_string!r}: {exc.message}") from None
        reason = str(exc.message).splitlines()[0] if exc.message else exc.error_code
        raise ReportError(f"cannot search the runs of the store: {reason}") from None


def fetch_runs(
    client, experiment, parent: str | None = None, filter_string: str | None = None
) -> pd.DataFrame:
    """One row per child run (tag ``ablation.role=cell``) with params, tags and final metrics.

    Columns: run_id, parent_id, status, start_time, config_hash, cell_hash, cell_label,
    failure, seed, params (dict of MLflow's strings), config (dict: the typed config from
    :func:`ablation.tracking.run_config`), metrics (dict: every final metric as logged), plus
    one float column per entry of ``FINAL_METRICS``
    (NaN when not logged; accuracies, recalls and precisions in percent).
    Raises ``ReportError`` when there are no child runs.
    """
    parts = [f"tags.`{tracking.TAG_ROLE}` = '{tracking.ROLE_CELL}'"]
    if parent:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", parent):
            raise ReportError(f"bad parent run id {parent!r}; expected the run id shown by MLflow")
        parts.append(f"tags.`{tracking.TAG_PARENT}` = '{parent}'")
    if filter_string:
        parts.append(filter_string)
    runs = _search(client, experiment.experiment_id, " and ".join(parts))
    if not runs:
        where = f" under parent run {parent!r}" if parent else ""
        filt = f" matching filter {filter_string!r}" if filter_string else ""
        n_any = len(client.search_runs([experiment.experiment_id], max_results=1000))
        raise ReportError(
            f"experiment {experiment.name!r} has no child runs{where}{filt} "
            f"(runs tagged {tracking.TAG_ROLE}={tracking.ROLE_CELL}; the experiment holds "
            f"{n_any} run(s) in total); "
            "run a sweep into it first"
        )
    rows = []
    for run in runs:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        config = tracking.run_config(run)
        row = {
            "run_id": run.info.run_id,
            "parent_id": tags.get(tracking.TAG_PARENT, ""),
            "status": run.info.status,
            "start_time": run.info.start_time or 0,
            "config_hash": tags.get(tracking.TAG_HASH) or run.info.run_id,
            "cell_hash": tags.get(tracking.TAG_CELL_HASH, ""),
            "cell_label": tags.get(tracking.TAG_CELL, ""),
            "failure": tags.get(tracking.TAG_FAILURE, ""),
            "git_commit": tags.get(tracking.TAG_GIT_COMMIT, ""),
            "data_checksum": tags.get(tracking.TAG_DATA_CHECKSUM, ""),
            "seed_reason": tags.get(tracking.TAG_SEED_REASON, ""),
            "contrasts": tags.get(tracking.TAG_CONTRASTS, ""),
            "seed": config.get("seed") if isinstance(config.get("seed"), int) else None,
            "params": dict(params),
            "config": config,
            "metrics": {k: float(v) for k, v in metrics.items()},  # final values, as logged
        }
        for col, key in FINAL_METRICS.items():
            value = float(metrics[key]) if key in metrics else float("nan")
            row[col] = 100.0 * value if col in PERCENT_COLUMNS else value
        rows.append(row)
    return pd.DataFrame(rows)


def latest_per_config(runs: pd.DataFrame) -> pd.DataFrame:
    """Newest FINISHED run per config hash; configs that never finished keep their newest run."""
    finished = runs["status"].eq("FINISHED")
    ordered = runs.assign(_fin=finished).sort_values(["_fin", "start_time"], ascending=False)
    kept = ordered.drop_duplicates("config_hash", keep="first").drop(columns="_fin")
    return kept.sort_values("start_time").reset_index(drop=True)


def fetch_histories(
    client,
    run_ids: list[str],
    keys: tuple[str, ...] = (metric_key("test", "acc"), metric_key("train", "acc")),
) -> pd.DataFrame:
    """Metric histories as a long table: run_id, key, step, value (last value per step).

    Uses the sqlite store's bulk query when available (one query per key per 500 runs),
    otherwise one request per run and key on a small thread pool.
    """
    records: list[tuple[str, str, int, float]] = []
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    bulk = getattr(store, "get_metric_history_bulk", None)
    done = False
    if bulk is not None:
        try:
            for key in keys:
                for i in range(0, len(run_ids), 500):
                    for m in bulk(run_ids[i : i + 500], key, 50_000_000):
                        records.append((m.run_id, key, m.metric.step, m.metric.value))
            done = True
        except Exception:  # fall back to the public API below
            records.clear()
    if not done:

        def one(args):
            run_id, key = args
            return [(run_id, key, m.step, m.value) for m in client.get_metric_history(run_id, key)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            for chunk in pool.map(one, [(r, k) for r in run_ids for k in keys]):
                records.extend(chunk)
    hist = pd.DataFrame(records, columns=["run_id", "key", "step", "value"])
    return hist.drop_duplicates(["run_id", "key", "step"], keep="last").reset_index(drop=True)


@contextmanager
def no_progress_bar():
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    old = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def download_artifact(client, run_id: str, path: str, dst: Path) -> Path | None:
    """Download one artifact of a run into ``dst``; None if it does not exist."""
    dst.mkdir(parents=True, exist_ok=True)
    try:
        with no_progress_bar():
            return Path(client.download_artifacts(run_id, path, str(dst)))
    except Exception:  # a missing artifact is reported, not fatal
        return None


def study_settings(client, runs: pd.DataFrame, tmp: Path) -> dict:
    """``task.metric``, ``task.goal`` and ``contrasts`` of the study, from the runs'
    config when logged there, else from the newest finished run's ``config.yaml``."""
    import yaml

    out = {}
    for key in STUDY_SETTINGS:
        values = [c[key] for c in runs["config"] if isinstance(c, dict) and c.get(key)]
        if values:
            out[key] = values[-1]
    if len(out) == len(STUDY_SETTINGS) or client is None:
        return out
    done = runs[runs["status"] == "FINISHED"].sort_values("start_time")
    for run_id in list(done["run_id"])[::-1][:1]:
        path = download_artifact(client, run_id, "config.yaml", tmp / run_id)
        try:
            loaded = yaml.safe_load(path.read_text("utf-8")) if path else None
        except (OSError, yaml.YAMLError):
            loaded = None
        if not isinstance(loaded, dict):
            continue
        for key in STUDY_SETTINGS:
            node = loaded
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None and key not in out:
                out[key] = node
    return out
