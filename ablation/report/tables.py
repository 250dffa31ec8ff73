"""The files beside every report that let a reader recheck it: effects.csv (one row per
contrast or marginal effect), runs.csv (one row per run kept) and summary.csv (one row
per cell: the grid's numbers)."""

from __future__ import annotations

import re

import pandas as pd

from ablation.config.keys import keys_of_factor

EFFECTS_COLUMNS = [
    "factor",
    "level",
    "baseline",
    "within",
    "estimate",
    "lo",
    "hi",
    "p_holm",
    "p_better",
    "family",
    "n",
    "n_baseline",
]


def effects_frame(table: pd.DataFrame) -> pd.DataFrame:
    """``effects.csv``: estimate = level minus baseline (points for accuracies), lo/hi the
    simultaneous interval within the family, within empty for a marginal effect."""
    if table is None or table.empty:
        return pd.DataFrame(columns=EFFECTS_COLUMNS)
    return table[EFFECTS_COLUMNS].copy()


def effects_name(i: int, key: str) -> str:
    return "effects.csv" if i == 0 else f"effects_{re.sub(r'[^A-Za-z0-9._-]+', '_', key)}.csv"


def _factor_keys(vary: list[str]) -> list[str]:
    return [k for f in vary if f != "cell_id" for k in keys_of_factor(f)]


def runs_frame(runs: pd.DataFrame, vary: list[str], flagged: pd.DataFrame) -> pd.DataFrame:
    """``runs.csv``: run id, cell, each varying factor by its config key, seed, data_seed,
    status, failed to train, every final metric (as logged: accuracies as fractions),
    config hash, git commit."""
    keys = _factor_keys(vary)
    metrics = sorted({k for m in runs["metrics"] for k in m})
    bad = set(flagged["run_id"]) if flagged is not None and not flagged.empty else set()
    rows = []
    for _, r in runs.iterrows():
        config = r["config"] if isinstance(r["config"], dict) else {}
        row = {"run_id": r["run_id"], "cell": r["cell"]}
        row.update({k: "" if config.get(k) is None else str(config[k]) for k in keys})
        seed = config.get("seed", r["seed"])
        data_seed = config.get("data_seed")
        row["seed"] = seed
        row["data_seed"] = seed if data_seed is None else data_seed
        row["status"] = r["status"]
        row["failed_to_train"] = r["run_id"] in bad
        row.update({k: r["metrics"].get(k, "") for k in metrics})
        row["config_hash"] = r["config_hash"]
        row["git_commit"] = r["git_commit"]
        rows.append(row)
    return pd.DataFrame(rows)


def summary_frame(cells: pd.DataFrame) -> pd.DataFrame:
    """``summary.csv``: the cells table (intervals clipped, none below 3 seeds)."""
    return cells.assign(run_ids=cells["run_ids"].map(";".join))
