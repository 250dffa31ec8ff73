"""Grid cells: which factors vary across runs, their levels, and one summary row per cell.

Factors are read from each run's typed config (the ``config`` column, from
:func:`ablation.tracking.run_config`), not from the human ``ablation.cell`` label:
``init`` = ``init.name``, ``reg`` = ``reg.name``, ``data`` = the size label of
:func:`ablation.data.data_label` (``42k``, ``digits:500``). Any other key that varies
and is not already implied by those (e.g. ``optim.lr`` in a learning-rate study) becomes a
factor under its own key. A level is the value as MLflow shows it (``str``), ``∅`` where
a run lacks the key.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

from ablation.config import keys
from ablation.config.schema import PROTOCOL_PARAMS
from ablation.data import data_label
from ablation.report.stats import interval

CANONICAL = {"init": "init.name", "reg": "reg.name"}
NOT_FACTORS = keys.NOT_OWN_FACTORS  # their factor (init, reg, data) or the seed stands for them
NOT_FACTOR_PREFIXES = ("tracking.", "hydra.", "experiment_name", "launcher", "paths.", "output")
PRIORITY = list(PROTOCOL_PARAMS)  # the order a report lists factors in
PREFERRED_FIRST = ["none", "random", "gd"]
METRICS = ("train_acc", "test_acc", "train_loss", "test_loss")
#: the range each summarised column's interval is clipped to
BOUNDS = {"train_acc": (0.0, 100.0), "test_acc": (0.0, 100.0)}
LOSS_BOUNDS = (0.0, float("inf"))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def level_key(factor: str, level) -> tuple:
    """Sort levels: baselines ('none', 'random') first, then numbers (42k < 60k), then text."""
    s = str(level)
    if s in PREFERRED_FIRST:
        return (0, PREFERRED_FIRST.index(s), 0.0, s)
    m = re.fullmatch(r"(?:[A-Za-z_]+[ :])?(-?\d+(?:\.\d+)?)(k?)", s)
    if m:
        return (1, 0, float(m.group(1)) * (1000 if m.group(2) else 1), s)
    v = _number(s)
    if v is not None:
        return (1, 0, v, s)
    return (2, 0, 0.0, s)


def sorted_levels(factor: str, levels) -> list:
    return sorted(levels, key=lambda lv: level_key(factor, lv))


def _config_column(runs: pd.DataFrame, key: str) -> pd.Series:
    return runs["config"].map(lambda c: str(c[key]) if key in c else "∅")


def _data_level(config: dict) -> str:
    n_train = config.get("data.n_train")
    if not isinstance(n_train, int) or isinstance(n_train, bool):
        n_train = None  # absent or not a size: the source's full training set
    return str(data_label(config.get("data.name"), n_train))


def _determined(frame: pd.DataFrame, by: list[str], col: str) -> bool:
    if not by:
        return frame[col].nunique() <= 1
    return bool((frame.groupby(by)[col].nunique() <= 1).all())


def add_factors(runs: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Add one string column per factor; return the frame and the factor names.

    Canonical factors (init, reg, data) are always added when their keys exist, even
    with a single level (the paper comparison matches on them); other keys only when
    they vary and are not implied by the factors found so far.
    """
    out = runs.copy()
    factors: list[str] = []
    all_keys = set().union(*out["config"].map(set)) if len(out) else set()
    for factor, key in CANONICAL.items():
        if key in all_keys:
            out[factor] = _config_column(out, key)
            factors.append(factor)
    if "data.name" in all_keys or "data.n_train" in all_keys:
        out["data"] = out["config"].map(_data_level)
        factors.append("data")
    candidates = [
        k for k in all_keys if k not in NOT_FACTORS and not k.startswith(NOT_FACTOR_PREFIXES)
    ]
    order = {k: i for i, k in enumerate(PRIORITY)}
    candidates.sort(key=lambda k: (order.get(k, len(order)), k))
    for key in candidates:
        col = _config_column(out, key)
        # a key a run lacks does not apply to it (runs log only what applies: no optim.beta1
        # for gd, no data.cache_dir when unset; older runs logged them all), so a key is a
        # factor only when the runs that have it disagree on its value
        if col[col != "∅"].nunique() <= 1:
            continue
        out[key] = col
        if _determined(out, factors, key):
            out = out.drop(columns=key)
        else:
            factors.append(key)
    if not factors:  # no known params at all: one cell per logged cell label
        labels = zip(out["cell_label"], out["cell_hash"], strict=True)
        out["cell_id"] = [lb or h or "all" for lb, h in labels]
        factors = ["cell_id"]
    return out, factors


def varying(runs: pd.DataFrame, factors: list[str]) -> list[str]:
    """The factors with more than one level; if none varies, all of them (one cell)."""
    vary = [f for f in factors if runs[f].nunique() > 1]
    return vary or list(factors)


def _label(factors: list[str], levels: tuple) -> str:
    return " ".join(f"{f}={lv}" for f, lv in zip(factors, levels, strict=True))


def _reasons(rows: pd.DataFrame) -> str:
    reasons = [r or "no reason logged" for r in rows["failure"].fillna("")]
    return "; ".join(dict.fromkeys(reasons))


def summarize_cells(
    runs: pd.DataFrame, factors: list[str], extra: dict[str, tuple] | None = None
) -> pd.DataFrame:
    """One row per cell of the full factorial of the observed levels of ``factors``.

    Columns: the factors, ``cell`` (label), ``status`` (ok | partial | FAILED | missing |
    RUNNING | KILLED), ``status_text`` (e.g. ``FAILED (nan loss)``), ``n_seeds`` (finished
    runs), ``n_failed``, ``seeds``, ``<metric>_mean/_lo/_hi`` for train/test accuracy (%) and
    loss, ``fit_s_mean``, ``run_ids`` (finished runs, ordered by seed). ``extra`` adds
    columns the same way: column -> (lo, hi) bounds. Intervals are the report's: 95% t,
    clipped to the bounds, NaN below 3 seeds (``stats.interval``).
    """
    bounds = {m: BOUNDS.get(m, LOSS_BOUNDS) for m in METRICS} | dict(extra or {})
    levels = [sorted_levels(f, runs[f].unique()) for f in factors]
    groups = {k if isinstance(k, tuple) else (k,): g for k, g in runs.groupby(factors, sort=False)}
    rows = []
    for combo in itertools.product(*levels):
        g = groups.get(combo)
        row = dict(zip(factors, combo, strict=True))
        row["cell"] = _label(factors, combo)
        if g is None:
            row.update(status="missing", status_text="missing", n_seeds=0, n_failed=0)
            row.update(seeds="", run_ids=[])
            rows.append(row)
            continue
        labels = [lb for lb in g["cell_label"] if lb]
        if labels:
            row["cell"] = labels[0]
        fin = g[g["status"] == "FINISHED"].sort_values("seed")
        bad = g[g["status"].isin(["FAILED", "KILLED"])]
        running = g[g["status"] == "RUNNING"]
        if len(fin) and len(bad):
            status, text = "partial", f"{len(bad)} of {len(g)} FAILED ({_reasons(bad)})"
        elif len(fin):
            status, text = "ok", "ok"
        elif len(bad):
            kind = "FAILED" if (bad["status"] == "FAILED").any() else "KILLED"
            status, text = kind, f"{kind} ({_reasons(bad)})"
        else:
            status, text = "RUNNING", "RUNNING"
        if len(running) and status != "RUNNING":
            text += f"; {len(running)} still RUNNING"
        row.update(status=status, status_text=text, n_seeds=len(fin), n_failed=len(bad))
        row["seeds"] = ",".join(str(s) for s in fin["seed"] if s is not None and s == s)
        row["run_ids"] = list(fin["run_id"])
        for m, (lo_b, hi_b) in bounds.items():
            iv = interval(fin[m], lo_b, hi_b) if len(fin) and m in fin else None
            mean, lo, hi = (iv.centre, iv.lo, iv.hi) if iv else (np.nan, np.nan, np.nan)
            row.update({f"{m}_mean": mean, f"{m}_lo": lo, f"{m}_hi": hi})
        row["fit_s_mean"] = float(fin["fit_s"].mean()) if len(fin) else np.nan
        val = fin["val_acc"] if "val_acc" in fin else pd.Series(dtype=float)
        row["val_acc_mean"] = float(val.mean()) if val.notna().any() else np.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    for m in bounds:
        for suffix in ("_mean", "_lo", "_hi"):
            if f"{m}{suffix}" not in table:
                table[f"{m}{suffix}"] = np.nan
    for col in ("fit_s_mean", "val_acc_mean"):
        if col not in table:
            table[col] = np.nan
    return table
