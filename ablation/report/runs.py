"""Read an MLflow store into tidy pandas tables: one row per child run, metric histories.

Only the MLflow client API is used (no log files, no Hydra output folders). The store
must already exist: opening an sqlite URI with MLflow would silently create an empty
database, so the file is checked first.
"""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from ablation.report.errors import ReportError

ROLE_TAG = "ablation.role"
PARENT_TAG = "mlflow.parentRunId"

# final metrics copied into columns: column name -> metric key
FINAL_METRICS = {
    "train_acc": "train/acc",
    "test_acc": "test/acc",
    "val_acc": "val/acc",
    "train_loss": "train/loss",
    "test_loss": "test/loss",
    "val_loss": "val/loss",
    "fit_s": "time/fit_s",
    "total_s": "time/total_s",
}
FINAL_METRICS |= {f"recall_{k}": f"test/recall_{k}" for k in range(10)}
FINAL_METRICS |= {f"precision_{k}": f"test/precision_{k}" for k in range(10)}
# logged as fractions in [0, 1]; the tables hold them in percent
PERCENT_COLUMNS = {
    c for c in FINAL_METRICS if c.endswith("_acc") or c[:-2] in ("recall", "precision")
}


def default_tracking_uri() -> str:
    """``$MLFLOW_TRACKING_URI`` if set, else ``sqlite:///<cwd>/mlruns/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{(Path.cwd() / 'mlruns' / 'mlflow.db').as_posix()}"


def _local_store_path(uri: str) -> Path | None:
    """The file or folder a local tracking URI points at, or None for remote stores."""
    if uri.startswith("sqlite:"):
        # sqlite:///relative.db, sqlite:////abs/path.db (SQLAlchemy URL form)
        rest = uri[len("sqlite:") :]
        if rest.startswith("///"):
            return Path(unquote(rest[3:]))
        raise ReportError(f"cannot read sqlite URI {uri!r}; expected sqlite:///path/to/mlflow.db")
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("", None) or (len(parsed.scheme) == 1 and os.name == "nt"):
        return Path(uri)
    return None


def open_client(tracking_uri: str | None = None):
    """An ``MlflowClient`` for an existing store; ``ReportError`` if the store is absent."""
    uri = tracking_uri or default_tracking_uri()
    local = _local_store_path(uri)
    if local is not None and not local.exists():
        raise ReportError(
            f"no MLflow store at {local} (tracking URI {uri!r}); run a sweep first "
            "(python -m ablation ...) or pass --tracking-uri pointing at an existing store"
        )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # any backend error becomes a user-facing message
        raise ReportError(f"cannot open MLflow store {uri!r}: {exc}") from exc


def find_experiment(client, name: str):
    """The experiment called ``name``; ``ReportError`` listing the existing ones otherwise."""
    try:
        exp = client.get_experiment_by_name(name)
    except Exception as exc:
        raise ReportError(f"cannot query experiments in the store: {exc}") from exc
    if exp is not None and exp.lifecycle_stage == "active":
        return exp
    names = sorted(e.name for e in client.search_experiments())
    listing = ", ".join(repr(n) for n in names) if names else "(none)"
    raise ReportError(f"unknown experiment {name!r}; experiments in this store: {listing}")


def _search_all(client, experiment_id: str, filter_string: str) -> list:
    from mlflow.exceptions import MlflowException

    runs, token = [], None
    while True:
        try:
            page = client.search_runs(
                [experiment_id], filter_string=filter_string, max_results=1000, page_token=token
            )
        except MlflowException as exc:
            raise ReportError(f"bad run filter {filter_string!r}: {exc.message}") from exc
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _to_int(text: str | None) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def fetch_runs(
    client, experiment, parent: str | None = None, filter_string: str | None = None
) -> pd.DataFrame:
    """One row per child run (tag ``ablation.role=cell``) with params, tags and final metrics.

    Columns: run_id, parent_id, status, start_time, config_hash, cell_hash, cell_label,
    failure, seed, params (dict), plus one float column per entry of ``FINAL_METRICS``
    (NaN when not logged; accuracies, recalls and precisions in percent).
    Raises ``ReportError`` when there are no child runs.
    """
    parts = [f"tags.`{ROLE_TAG}` = 'cell'"]
    if parent:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", parent):
            raise ReportError(f"bad parent run id {parent!r}; expected the run id shown by MLflow")
        parts.append(f"tags.`{PARENT_TAG}` = '{parent}'")
    if filter_string:
        parts.append(filter_string)
    runs = _search_all(client, experiment.experiment_id, " and ".join(parts))
    if not runs:
        where = f" under parent run {parent!r}" if parent else ""
        filt = f" matching filter {filter_string!r}" if filter_string else ""
        n_any = len(client.search_runs([experiment.experiment_id], max_results=1000))
        raise ReportError(
            f"experiment {experiment.name!r} has no child runs{where}{filt} "
            f"(runs tagged {ROLE_TAG}=cell; the experiment holds {n_any} run(s) in total); "
            "run a sweep into it first"
        )
    rows = []
    for run in runs:
        tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
        row = {
            "run_id": run.info.run_id,
            "parent_id": tags.get(PARENT_TAG, ""),
            "status": run.info.status,
            "start_time": run.info.start_time or 0,
            "config_hash": tags.get("ablation.config_hash") or run.info.run_id,
            "cell_hash": tags.get("ablation.cell_hash", ""),
            "cell_label": tags.get("ablation.cell", ""),
            "failure": tags.get("ablation.failure", ""),
            "git_commit": tags.get("ablation.git_commit", ""),
            "data_checksum": tags.get("ablation.data_checksum", ""),
            "seed": _to_int(params.get("seed")),
            "params": dict(params),
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
    client, run_ids: list[str], keys: tuple[str, ...] = ("test/acc", "train/acc")
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
def _no_progress_bar():
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
        with _no_progress_bar():
            return Path(client.download_artifacts(run_id, path, str(dst)))
    except Exception:  # a missing artifact is reported, not fatal
        return None
