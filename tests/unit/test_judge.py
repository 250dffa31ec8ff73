"""How a sweep judges cells (ablation.sweep.judge): by task.metric, in task.goal's direction."""

from __future__ import annotations

from ablation.sweep import judge
from ablation.sweep.adaptive import AutoSettings, CellState, best_first, paper_value


def test_the_goal_decides_which_cell_is_best():
    groups = {"a": [0.10, 0.12], "b": [0.20, 0.22]}
    assert judge.best_key(groups, "max") == "b"
    assert judge.best_key(groups, "min") == "a"
    assert judge.best_key({}, "max") is None
    assert judge.best_first({"a": 1.0, "b": 3.0, "c": 2.0}, "min") == ["a", "c", "b"]


def test_accuracies_in_percent_other_metrics_as_logged():
    assert judge.value_text("test/acc", 0.97331) == "0.9733 (97.33%)"
    assert judge.value_text("test/err", 0.026689) == "0.02669"
    assert judge.percent_scale("val/acc") == 100 and judge.percent_scale("time/fit_s") == 1
    assert judge.summary_metric_key("test/macro_f1") == "sweep/best_test_macro_f1"


def test_seeds_auto_states_its_rule_in_the_metrics_units_and_orders_by_the_goal():
    settings = AutoSettings(precision=0.02)
    assert "t-interval of test accuracy is at most ±0.02 points" in settings.rule_for("test/acc")
    rule = settings.rule_for("test/err")
    assert "t-interval of test/err is at most ±0.02 (in test/err's own units) wide" in rule
    states = {
        "low": CellState("low", 3, (0.1, 0.1, 0.1)),
        "high": CellState("high", 3, (0.3, 0.3, 0.3)),
        "none": CellState("none", 3, ()),
    }
    assert best_first(states, "min") == ["low", "high", "none"]
    assert best_first(states, "max") == ["high", "low", "none"]


def test_the_papers_rows_apply_only_to_test_accuracy_higher_is_better():
    from ablation.report.reference import load_reference

    reference = load_reference("ghimire2023")
    row = {"init.name": "random", "reg.name": "none", "data.name": "mnist", "data.n_train": 42000}
    assert paper_value(row, reference) is not None
    assert paper_value(row, reference, "test/err", "min") is None
    assert paper_value(row, reference, "test/acc", "min") is None
