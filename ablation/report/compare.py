"""Paper vs. reproduction: one row per reference row, our mean ± 95% CI and a verdict."""

from __future__ import annotations

import math

import pandas as pd

from ablation.report.reference import Reference
from ablation.report.stats import t_ci, verdict


def compare(reference: Reference, runs: pd.DataFrame, vary: list[str]) -> pd.DataFrame:
    """Match each reference row's factors against the runs and summarise our results.

    ``runs`` must hold one row per run (after de-duplication) with factor columns; ``vary``
    are the factors that define a cell. When several cells match a row (because some
    other factor varies too), the cells with the paper's own ``setting`` are kept if there
    are any, and of what is left the best one by mean test accuracy is reported.
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
            "n": 0,
            "note": ref.note,
        }
        for side in ("train", "test"):
            row.update({f"ours_{side}": math.nan, f"ours_{side}_lo": math.nan})
            row[f"ours_{side}_hi"] = math.nan
        row["delta_test"] = math.nan
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
        groups = list(fin.groupby(keys)) if keys else [((), fin)]
        best_key, best = max(groups, key=lambda kv: kv[1]["test_acc"].mean())
        if len(groups) > 1:
            extra = f"best of {len(groups)} matching cells"
            row["note"] = f"{row['note']} {extra}".strip()
        labels = [lb for lb in best["cell_label"] if lb]
        row["cell"] = labels[0] if labels else row["factors"]
        for side in ("train", "test"):
            mean, lo, hi, n = t_ci(best[f"{side}_acc"])
            row.update({f"ours_{side}": mean, f"ours_{side}_lo": lo, f"ours_{side}_hi": hi})
        row["n"] = int(best["test_acc"].notna().sum())
        row["delta_test"] = row["ours_test"] - ref.test_acc
        row["verdict"] = verdict(
            ref.test_acc, row["ours_test"], row["ours_test_lo"], row["ours_test_hi"]
        )
        if row["n"] == 1:
            row["verdict"] += " (1 seed, no CI)"
        rows.append(row)
    return pd.DataFrame(rows)
