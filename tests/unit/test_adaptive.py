"""The seeds=auto round rule (ablation.sweep.adaptive): which cells get another seed, and why."""

from __future__ import annotations

import pytest

from ablation.errors import ConfigError
from ablation.report.reference import load_reference
from ablation.sweep.adaptive import (
    AutoSettings,
    CellState,
    first_round_arguments,
    is_auto,
    paper_value,
    plan_cell,
    plan_round,
    without_seed,
)

TIGHT = (95.0, 95.3, 94.8)  # ±0.6 points with 3 seeds
WIDE = (83.1, 95.8, 91.9)  # ±15.8 points with 3 seeds
SETTINGS = AutoSettings(min_seeds=3, max_seeds=5, batch=1, precision=2.0)


def test_only_the_cell_whose_interval_is_too_wide_gets_the_next_seed():
    plans = plan_round(
        {
            "tight": CellState("init=kaiming", 3, TIGHT),
            "wide": CellState("init=random", 3, WIDE),
        },
        SETTINGS,
        next_round=2,
    )
    assert plans["tight"].decided and plans["tight"].next_seeds == ()
    assert not plans["wide"].decided and plans["wide"].next_seeds == (3,)
    assert plans["wide"].reason.startswith("round 2: init=random inconclusive (n=3, ±")


def test_the_precision_decides_what_is_wide_enough():
    state = CellState("c", 3, (95.0, 96.0, 94.5))  # ±1.9 points
    assert plan_cell(state, SETTINGS, 2).decided
    assert not plan_cell(state, AutoSettings(precision=1.0), 2).decided


def test_an_undecided_cell_stops_at_the_cap_and_batches_never_pass_it():
    at_cap = plan_cell(CellState("c", 5, (80.0, 95.0, 90.0, 85.0, 97.0)), SETTINGS, 4)
    assert not at_cap.decided and at_cap.next_seeds == () and at_cap.capped
    two = AutoSettings(min_seeds=3, max_seeds=6, batch=2)
    assert plan_cell(CellState("c", 3, WIDE), two, 2).next_seeds == (3, 4)
    assert plan_cell(CellState("c", 5, (*WIDE, 80.0, 99.0)), two, 3).next_seeds == (5,)


def test_a_cell_with_fewer_than_3_finished_seeds_is_open_and_says_so():
    plan = plan_cell(CellState("c", 3, (95.0, 95.1)), SETTINGS, 2)  # one seed FAILED
    assert not plan.decided and plan.next_seeds == (3,)
    assert "n=2, no interval" in plan.reason and "1 of 3 seeds not finished" in plan.reason


def test_a_paper_row_is_decided_by_its_verdict_against_the_paper():
    # far above the paper's value: decided at once, however wide
    above = plan_cell(CellState("row", 3, (90.0, 93.0, 96.0), reference=77.7), SETTINGS, 2)
    assert above.decided and above.verdict == "above"
    # the paper's value inside a wide interval: open, the reason names the paper's value
    open_ = plan_cell(CellState("row", 3, (70.0, 78.0, 86.0), reference=77.7), SETTINGS, 2)
    assert not open_.decided and open_.next_seeds == (3,)
    assert "vs paper 77.7" in open_.reason and open_.reason.startswith("round 2: row inconclusive")
    within = plan_cell(CellState("row", 3, (77.5, 77.9, 77.7), reference=77.7), SETTINGS, 2)
    assert within.decided and within.verdict == "within"


def test_the_paper_rows_are_found_only_in_the_papers_setting():
    ref = load_reference("ghimire2023")
    row = {"init.name": "kaiming", "reg.name": "none", "data.name": "mnist", "data.n_train": 42000}
    assert paper_value({**row, "depth": 2, "optim.name": "gd"}, ref) == 77.7
    assert paper_value({**row, "depth": 3, "optim.name": "gd"}, ref) is None
    assert paper_value({**row, "data.name": "digits", "depth": 2}, ref) is None
    assert paper_value({**row, "depth": 2}, None) is None


def test_the_first_round_replaces_any_seed_sweep_of_the_grid():
    args = ["table3=a,b", "seed=range(5)", "+seed=7", "data_seed=0,1"]
    assert without_seed(args) == (["table3=a,b", "data_seed=0,1"], ["seed=range(5)", "+seed=7"])
    assert first_round_arguments(args, 3) == ["table3=a,b", "data_seed=0,1", "seed=range(3)"]
    assert is_auto({"max_seeds": 10, "params": None}) and not is_auto({"max_batch_size": None})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_seeds": 2}, "min_seeds=2 is too small"),
        ({"max_seeds": 2}, "max_seeds=2 is below min_seeds=3"),
        ({"batch": 0}, "batch=0 is invalid"),
        ({"precision": 0}, "precision=0 is invalid"),
        ({"reference": "ghimire2032"}, "reference='ghimire2032' is not a packaged paper"),
    ],
)
def test_settings_that_cannot_work_are_refused_with_what_to_do(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        AutoSettings(**kwargs)


def test_the_rule_is_one_sentence_with_the_settings():
    rule = AutoSettings(max_seeds=7, precision=1.5).rule
    assert "7 seeds" in rule and "±1.5 points" in rule and rule.count(". ") == 0


def test_only_seeds_run_after_looking_count_as_added():
    """Round 1's seeds carry a reason too, but were launched before any result was seen."""
    from ablation.sweep.adaptive import AutoSettings, first_round_reason
    from ablation.tracking.schema import seed_added

    assert not seed_added(first_round_reason(AutoSettings()))
    assert seed_added("round 2: init=random inconclusive (n=3, ±2.1)")
    assert not seed_added("") and not seed_added(None)
