"""Per-class recall and precision of the finished runs, cells x classes, in percent.

A run stores them as one table artifact, ``per_class.csv`` (class, support, recall,
precision, f1; fractions). Runs made before that logged twenty single-step metrics
(``test/recall_k``, ``test/precision_k``), read into the ``recall_k``/``precision_k``
columns by ``runs.fetch_runs``: those are used when a run has no table.
"""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from ablation.report import runs as store

PER_CLASS_FILE = "per_class.csv"


def _read(path: Path | None) -> pd.DataFrame | None:
    try:
        table = pd.read_csv(path) if path else None
    except (OSError, ValueError):
        return None
    if table is None or not {"class", "recall", "precision"} <= set(table.columns):
        return None
    return table


def _from_metrics(row: dict, kind: str) -> dict[str, float]:
    """The old runs' ``recall_k`` columns (already percent), without the missing ones."""
    values = {str(k): row.get(f"{kind}_{k}") for k in range(10)}
    return {k: float(v) for k, v in values.items() if v is not None and not pd.isna(v)}


def per_class_tables(fin: pd.DataFrame, uri: str) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(recall, precision): one row per cell (mean over its finished runs), one column per
    class, in percent; None when no run has per-class numbers."""
    if fin.empty:
        return None
    old = {rid: row for rid, row in zip(fin["run_id"], fin.to_dict("records"), strict=True)}
    new = [rid for rid, row in old.items() if not _from_metrics(row, "recall")]
    tables = _download_tables(uri, new) if new else {}
    rows: list[dict] = []
    for run_id, run in old.items():
        table = tables.get(run_id)
        for kind in ("recall", "precision"):
            if table is not None:
                pairs = zip(table["class"], table[kind], strict=True)
                values = {str(int(c)): 100.0 * v for c, v in pairs}
            else:
                values = _from_metrics(run, kind)
            if values:
                rows.append({"cell": run["cell"], "kind": kind, **values})
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    classes = sorted((c for c in frame.columns if c not in ("cell", "kind")), key=int)
    out = []
    for kind in ("recall", "precision"):
        part = frame[frame["kind"] == kind]
        out.append(part.groupby("cell", sort=True)[classes].mean())
    return out[0], out[1]


def _download_tables(uri: str, run_ids: list[str]) -> dict[str, pd.DataFrame]:
    """``per_class.csv`` of each run that has one, fetched on a small thread pool."""
    client = store.open_client(uri)
    with tempfile.TemporaryDirectory(prefix="ablation-per-class-") as tmp:

        def one(run_id: str) -> pd.DataFrame | None:
            dst = Path(tmp) / run_id
            return _read(store.download_artifact(client, run_id, PER_CLASS_FILE, dst))

        # set once for all threads: each download would otherwise set and restore it
        with store.no_progress_bar(), ThreadPoolExecutor(max_workers=8) as pool:
            got = dict(zip(run_ids, pool.map(one, run_ids), strict=True))
    return {k: v for k, v in got.items() if v is not None}
