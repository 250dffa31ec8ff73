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


def test_a_paper_row_run_at_two_budgets_gets_a_row_per_cell_and_both_budget_rows():
    """paper_depth ran the paper's random / 42k cell at 56 and 300 steps: the comparison
    showed only the better one (300 steps, 'above'), hiding the 56-step match; now each
    matching cell is its own row, in level order, and the budget table follows each."""
    from ablation.report.compare import compare, display_names
    from ablation.report.reference import load_reference

    ref = load_reference("ghimire2023")
    rows = []
    for steps, accs in (("300", [89.4, 89.5, 89.3]), ("56", [76.9, 76.5, 77.1])):
        for seed, acc in enumerate(accs):
            rows.append(
                {
                    "run_id": f"{steps}-{seed}", "status": "FINISHED", "seed": seed,
                    "init": "random", "reg": "none", "data": "42k", "depth": "2",
                    "optim": "gd", "optim.iterations": steps,
                    "cell": f"optim.iterations={steps}",
                    "cell_label": "init=random reg=none data=42k", "failure": "",
                    "test_acc": acc, "train_acc": acc + 0.5, "seed_reason": "",
                    "params": {"optim.name": "gd"},
                }
            )  # fmt: skip
    runs = pd.DataFrame(rows)
    comp = compare(ref, runs, ["optim.iterations"])
    mine = comp[comp["label"] == "Random init (42k)"]
    assert list(mine["cell_key"]) == ["optim.iterations=56", "optim.iterations=300"]
    assert mine["verdict"].tolist()[0] == "within" and mine["verdict"].tolist()[1] == "above"
    assert all("one of 2 matching cells" in n for n in mine["note"])
    names = display_names(comp)
    assert "Random init (42k) (optim.iterations=56)" in names
    assert "Kaiming init (42k)" in names  # a row shown once keeps its plain label
    fin = runs.assign(test_acc=runs["test_acc"])
    hist = _hist({r: [0.5, 0.8] for r in runs["run_id"]})
    table = budget_table(hist, comp, fin)
    assert list(table["cell"]) == ["optim.iterations=56", "optim.iterations=300"]
