"""budget.py on a synthetic history: where the paper's accuracy is first reached."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from ablation.report.budget import budget_row, budget_table, first_reaching, updates_per_epoch


def _hist(curves: dict[str, list[float]], every: int = 10) -> pd.DataFrame:
    """Long history table (fractions) with one test/acc point every ``every`` steps."""
    rows = [
        (run, "test/acc", i * every, v)
        for run, values in curves.items()
        for i, v in enumerate(values)
    ]
    return pd.DataFrame(rows, columns=["run_id", "key", "step", "value"])


CURVES = {  # three seeds of one cell; mean 60.0, 74.67, 78.0, 80.0, 82.0 at steps 0..40
    "a": [0.60, 0.70, 0.80, 0.81, 0.83],
    "b": [0.60, 0.77, 0.77, 0.79, 0.82],
    "c": [0.60, 0.77, 0.77, 0.80, 0.81],
}


def test_first_reaching():
    assert first_reaching([0, 10, 20], [50, 76.6, 80], 76.6) == 10
    assert math.isnan(first_reaching([0, 10, 20], [50, 60, 70], 76.6))


def test_mean_and_per_seed_first_reaching_steps():
    row = budget_row(_hist(CURVES), ["a", "b", "c"], 76.6)
    assert row["mean_epoch"] == 20  # the mean is 74.67 at 10, 78.0 at 20
    assert (row["seed_min"], row["seed_median"], row["seed_max"]) == (10, 10, 20)
    assert row["seeds_reached"] == 3 and row["n_seeds"] == 3
    assert row["final_epoch"] == 40 and row["ours_final"] == pytest.approx(82.0)


def test_not_reached_and_partly_reached():
    row = budget_row(_hist(CURVES), ["a", "b", "c"], 82.5)
    assert math.isnan(row["mean_epoch"])  # mean ends at 82.0
    assert row["seeds_reached"] == 1 and row["seed_median"] == 40


def test_steps_not_logged_by_every_seed_are_ignored_for_the_mean():
    hist = _hist(CURVES)
    hist = hist[~((hist["run_id"] == "a") & (hist["step"] == 20))]
    row = budget_row(hist, ["a", "b", "c"], 76.6)
    assert row["mean_epoch"] == 30


def test_updates_per_epoch():
    assert updates_per_epoch({"optim.name": "gd", "optim.batch_size": "None"}) == 1
    sgd = {"optim.name": "sgd", "optim.batch_size": "128", "data.name": "mnist"}
    assert updates_per_epoch({**sgd, "data.n_train": "42000"}) == 329  # ceil(42000 / 128)
    assert updates_per_epoch({**sgd, "data.n_train": "None"}) == 469  # 60,000 rows
    assert updates_per_epoch({**sgd, "data.n_train": "6000", "data.n_val": "1000"}) == 40
    assert updates_per_epoch({**sgd, "data.name": "unknown", "data.n_train": "None"}) is None


def test_budget_table_maps_paper_rows_to_cells():
    fin = pd.DataFrame(
        {
            "run_id": ["a", "b", "c"],
            "cell": ["init=random reg=none data=42k"] * 3,
            "cell_label": ["init=random reg=none data=42k"] * 3,
            "test_acc": [83.0, 82.0, 81.0],
            "params": [{"optim.name": "gd"}] * 3,
        }
    )
    comp = pd.DataFrame(
        {
            "label": ["Random init (42k)", "Kaiming init (42k)"],
            "paper_test": [76.6, 77.7],
            "cell": ["init=random reg=none data=42k", ""],
            "ours_test": [82.0, math.nan],  # the second row was not run: no row
        }
    )
    table = budget_table(_hist(CURVES), comp, fin)
    assert list(table["paper_row"]) == ["Random init (42k)"]
    assert table.loc[0, "mean_epoch"] == 20 and table.loc[0, "mean_updates"] == 20
