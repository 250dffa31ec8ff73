"""Budget-matched comparison: where on our learning curves the paper's accuracy is reached.

For each paper row matched to one of our cells: the first evaluation step at which our
mean test accuracy (over seeds) reaches the paper's test accuracy, the same per seed
(median and range), and our accuracy at the end. Steps are as logged by
``ablation.nn.train.fit``: passes over the training set (epochs), so a full-batch step is
one epoch and one update; a minibatch epoch is ``ceil(rows / batch_size)`` updates.
Pure pandas/numpy: the input is the long history table of ``runs.fetch_histories``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ablation.data import DATASETS
from ablation.nn import OPTIMIZERS

COLUMNS = [
    "paper_row",
    "paper_test",
    "cell",
    "n_seeds",
    "mean_epoch",
    "mean_updates",
    "seed_median",
    "seed_min",
    "seed_max",
    "seeds_reached",
    "final_epoch",
    "ours_final",
    "logged_every",
]


def _int(text) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def updates_per_epoch(params: dict) -> int | None:
    """Parameter updates per pass over the training set; None when the size is unknown.

    Whether the optimiser is full batch and the training set's size when ``data.n_train``
    is null are read from their registry entries (``Optimizer.full_batch``,
    ``DatasetSpec.train_size``)."""
    chosen = OPTIMIZERS.get(params.get("optim.name", "gd"))
    if (chosen is not None and chosen.full_batch) or _int(params.get("optim.batch_size")) is None:
        return 1
    source = DATASETS.get(params.get("data.name", ""))
    rows = _int(params.get("data.n_train")) or (source.train_size if source else None)
    if rows is None:
        return None
    rows -= _int(params.get("data.n_val")) or 0
    return max(1, math.ceil(rows / _int(params["optim.batch_size"])))


def first_reaching(steps, values, target: float) -> float:
    """The first step whose value is >= ``target`` (NaN if none); steps ascending."""
    steps, values = np.asarray(steps, float), np.asarray(values, float)
    hit = np.flatnonzero(values >= target - 1e-9)  # 100 * 0.766 is 76.60000000000001
    return float(steps[hit[0]]) if hit.size else math.nan


def _curves(hist: pd.DataFrame, run_ids: list[str], key: str) -> pd.DataFrame:
    """runs x steps table of ``key`` in percent, steps every run logged, ascending."""
    h = hist[(hist["key"] == key) & hist["run_id"].isin(run_ids)]
    wide = h.pivot_table(index="run_id", columns="step", values="value", aggfunc="last")
    return 100.0 * wide.dropna(axis=1).sort_index(axis=1)


def budget_row(hist: pd.DataFrame, run_ids: list[str], target: float, key="test/acc") -> dict:
    """First-reaching steps of ``target`` (%) for one cell; see the module docstring."""
    wide = _curves(hist, run_ids, key)
    row = {c: math.nan for c in COLUMNS[3:]}
    row.update(n_seeds=len(wide), seeds_reached=0)
    if wide.empty or wide.shape[1] == 0:
        return row
    steps = wide.columns.to_numpy(float)
    per_seed = np.array([first_reaching(steps, v, target) for v in wide.to_numpy()])
    reached = per_seed[~np.isnan(per_seed)]
    row.update(
        mean_epoch=first_reaching(steps, wide.mean(axis=0).to_numpy(), target),
        seeds_reached=int(reached.size),
        final_epoch=float(steps[-1]),
        logged_every=float(np.median(np.diff(steps))) if steps.size > 1 else math.nan,
        ours_final=float(wide.iloc[:, -1].mean()),
    )
    if reached.size:
        row.update(
            seed_median=float(np.median(reached)),
            seed_min=float(reached.min()),
            seed_max=float(reached.max()),
        )
    return row


def budget_table(
    hist: pd.DataFrame, comp: pd.DataFrame, fin: pd.DataFrame, key: str = "test/acc"
) -> pd.DataFrame:
    """One row per paper row that has finished runs of ours (columns ``COLUMNS``).

    ``comp`` is ``compare.compare``'s table (label, paper_test, cell); ``fin`` the finished
    runs with ``run_id``, ``cell``, ``cell_label``, ``test_acc`` and ``params``. When the
    compared cell label names several cells, the one with the best mean test accuracy is
    used (``comp`` rows from ``compare`` name their own cell in ``cell_key``).
    """
    rows = []
    for _, ref in comp[comp["ours_test"].notna()].iterrows():
        key_ = ref.get("cell_key") or ref["cell"]
        hit = fin[(fin["cell"] == key_) | (fin["cell_label"] == ref["cell"])]
        if hit.empty:
            continue
        best = hit.groupby("cell")["test_acc"].mean().idxmax()
        runs = hit[hit["cell"] == best]
        row = {"paper_row": ref["label"], "paper_test": float(ref["paper_test"]), "cell": best}
        row.update(budget_row(hist, list(runs["run_id"]), float(ref["paper_test"]), key))
        if row["n_seeds"] == 0:  # no history logged for this cell
            continue
        per = updates_per_epoch(runs["params"].iloc[0])
        row["mean_updates"] = row["mean_epoch"] * per if per else math.nan
        rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS)
