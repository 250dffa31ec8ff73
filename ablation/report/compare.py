"""Paper vs. reproduction: one row per reference row, our mean, median and 95% interval,
and a verdict that says "inconclusive" when our seeds cannot decide."""

from __future__ import annotations

import math

import pandas as pd

from ablation.report.reference import Reference
from ablation.report.stats import failed_to_train, interval, paper_verdict, robust_centre
from ablation.tracking.schema import seed_added


class UnknownRow(ValueError):
    """``calibrated`` names a row the reference does not have."""


def calibrated_rows(reference: Reference, names: str | None) -> set[str]:
    """The labels of the rows ``names`` (';'-separated labels or factor strings such as
    ``init=random reg=none data=42k``, any case) picks; ``UnknownRow`` for any other name."""
    picked: set[str] = set()
    for name in (n.strip() for n in (names or "").split(";")):
        if not name:
            continue
        hit = [
            r.label
            for r in reference.rows
            if name.lower()
            in (r.label.lower(), " ".join(f"{k}={v}" for k, v in r.factors.items()).lower())
        ]
        if not hit:
            rows = "; ".join(r.label for r in reference.rows)
            raise UnknownRow(f"--calibrated {name!r} is not a row of the paper; use one of: {rows}")
        picked.update(hit)
    return picked


def compare(
    reference: Reference, runs: pd.DataFrame, vary: list[str], calibrated: set[str] = frozenset()
) -> pd.DataFrame:
    """Match each reference row's factors against the runs and summarise our results.

    Per side (train, test): ``ours_<side>`` (mean), ``_lo``/``_hi`` (the clipped 95%
    t-interval; NaN below 3 seeds), ``_median`` and ``_values`` (the seeds' values, for
    cells too small for an interval). ``failed_to_train`` lists the seeds the stated rule
    flags (``stats.failed_to_train``) as "seed (acc%)"; the note then gives the mean without
    them. The verdict follows ``stats.paper_verdict`` on all finished seeds.

    ``runs`` must hold one row per run (after de-duplication) with factor columns; ``vary``
    are the factors that define a cell. When several cells match a row (because some
    other factor varies too), the cells with the paper's own ``setting`` are kept if there
    are any, and each cell that is left gets its own row (``cell_key``: the report's cell name;
    e.g. a study that ran the row's cell at two budgets shows both).
    ``calibrated`` are the labels of rows a setting of the study was read off (column
    ``calibrated``): their agreement with the paper is expected, not evidence.
    """
    rows = []
    for ref in reference.rows:
        mask = pd.Series(True, index=runs.index)
        for factor, level in ref.factors.items():
            mask &= runs[factor].eq(level) if factor in runs else False
        for factor, level in reference.setting.items():
            if factor in runs and factor not in ref.factors:
                narrowed = mask & runs[factor].astype(str).eq(level)
                if narrowed.any():
                    mask = narrowed
        matched = runs[mask]
        fin = matched[matched["status"] == "FINISHED"]
        row = {
            "label": ref.label,
            "factors": " ".join(f"{k}={v}" for k, v in ref.factors.items()),
            "paper_train": ref.train_acc,
            "paper_test": ref.test_acc,
            "cell": "",
            "cell_key": "",
            "n": 0,
            "note": ref.note,
            "calibrated": ref.label in calibrated,
        }
        for side in ("train", "test"):
            row.update({f"ours_{side}": math.nan, f"ours_{side}_lo": math.nan})
            row.update({f"ours_{side}_hi": math.nan, f"ours_{side}_median": math.nan})
            row[f"ours_{side}_values"] = ()
        row.update(delta_test=math.nan, failed_to_train="", auto_seeds=0)
        if fin.empty:
            failed = matched[matched["status"].isin(["FAILED", "KILLED"])]
            if len(failed):
                reasons = "; ".join(
                    dict.fromkeys(r or "no reason logged" for r in failed["failure"])
                )
                row["verdict"] = f"FAILED ({reasons})"
            else:
                row["verdict"] = "not run"
            rows.append(row)
            continue
        keys = [f for f in vary if f in fin]
        groups = sorted(fin.groupby(keys), key=_level_order) if keys else [((), fin)]
        for _, cell in groups:  # one row per matching cell (e.g. per budget the study ran)
            rows.append(_cell_row(dict(row), cell, ref.test_acc, len(groups)))
    return pd.DataFrame(rows)


def _cell_row(row: dict, cell: pd.DataFrame, paper_test: float, matching: int) -> dict:
    """``row`` completed with one matching cell's numbers; ``matching`` cells match the
    paper row in all (e.g. a study that ran the row at two budgets shows both)."""
    labels = [lb for lb in cell["cell_label"] if lb]
    row["cell"] = labels[0] if labels else row["factors"]
    row["cell_key"] = str(cell["cell"].iloc[0]) if "cell" in cell else row["cell"]
    if matching > 1:
        row["cell"] = f"{row['cell']} ({row['cell_key']})"
        row["note"] = f"{row['note']} one of {matching} matching cells, each its own row".strip()
    cell = cell.sort_values("seed")
    for side in ("train", "test"):
        values = cell[f"{side}_acc"].dropna()
        mean, lo, hi, _ = interval(values)
        row.update({f"ours_{side}": mean, f"ours_{side}_lo": lo, f"ours_{side}_hi": hi})
        row[f"ours_{side}_median"] = robust_centre(values)
        row[f"ours_{side}_values"] = tuple(float(v) for v in values)
    test = cell.dropna(subset=["test_acc"])
    row["n"] = len(test)
    row["delta_test"] = row["ours_test"] - paper_test
    row["verdict"] = paper_verdict(test["test_acc"], paper_test)
    if "seed_reason" in test:  # seeds=auto added these after looking at the first ones
        row["auto_seeds"] = int(test["seed_reason"].fillna("").map(seed_added).sum())
    flags = failed_to_train(test["test_acc"])
    if flags.any():
        bad = test[flags]
        row["failed_to_train"] = ", ".join(
            f"seed {_seed(s)} ({a:.1f}%)" for s, a in zip(bad["seed"], bad["test_acc"], strict=True)
        )
        kept = test.loc[~flags, "test_acc"]
        row["note"] = (
            f"{row['note']} failed to train: {row['failed_to_train']}; without them "
            f"{kept.mean():.2f} (n={len(kept)})"
        ).strip()
    return row


def _level_order(group) -> tuple:
    """Sort key of a ``groupby`` group: its levels, numbers by value (56 before 300)."""
    levels = group[0] if isinstance(group[0], tuple) else (group[0],)
    out = []
    for v in levels:
        try:
            out.append((0, float(v), ""))
        except (TypeError, ValueError):
            out.append((1, 0.0, str(v)))
    return tuple(out)


def display_names(comp: pd.DataFrame) -> list[str]:
    """Each row's paper label, with its cell when several rows share the label."""
    counts = comp["label"].value_counts()
    return [
        f"{r['label']} ({r['cell_key']})"
        if counts[r["label"]] > 1 and r["cell_key"]
        else r["label"]
        for _, r in comp.iterrows()
    ]


def _seed(s) -> str:
    return "?" if s is None or s != s else str(int(s))
