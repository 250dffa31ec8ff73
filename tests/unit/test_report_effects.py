"""The model of the design, its families and sentences, on planted numbers (no store)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ablation.report.errors import ReportError
from ablation.report.metrics import Metric
from ablation.report.stats.effects import emm_table, fit
from ablation.report.stats.families import effects_table, parse_spec
from ablation.report.stats.sentences import overview, resolution
from ablation.report.stats.verdicts import decide, paper_verdict, tost_p

ACC = Metric("test/acc", "max")


def _runs(cells, value, noise=0.3) -> pd.DataFrame:
    """cells: (a, b, seeds); value(a, b) the planted mean; a deterministic noise per run."""
    rows = []
    for a, b, seeds in cells:
        for s in range(seeds):
            e = noise * math.sin(1.7 * s + 2.3 * a + 3.1 * b)
            rows.append({"a": str(a), "b": str(b), "seed": s, "y": value(a, b) + e,
                         "run_id": f"r{a}{b}{s}"})  # fmt: skip
    return pd.DataFrame(rows)


def _row(table, factor, level, baseline, within=""):
    hit = table[(table.factor == factor) & (table.level == level) & (table.baseline == baseline)]
    return hit[hit.within == within].iloc[0]


def test_incomplete_grid_gives_the_planted_effects_and_names_the_assumption():
    data = _runs([(0, 0, 5), (1, 0, 5), (0, 1, 5)], lambda a, b: 80 + a + 10 * b)
    model = fit(data, "y", ["a", "b"])
    assert model.terms == [("a",), ("b",)] and model.unidentified == [("a", "b")]
    table = effects_table(model, "max")
    assert _row(table, "a", "1", "0").estimate == pytest.approx(1.0, abs=0.3)
    assert _row(table, "b", "1", "0").estimate == pytest.approx(10.0, abs=0.3)
    sentences = overview(model, table, _Named(ACC, "y"))
    assert sentences[0].startswith("a=1 raises test accuracy by 1.")
    assert "assuming no a × b interaction" in sentences[0]


def test_unbalanced_complete_grid_weights_cells_equally():
    data = _runs([(0, 0, 3), (1, 1, 3), (0, 1, 9), (1, 0, 9)], lambda a, b: 80 + a + 10 * b)
    pooled = data.groupby("a").y.mean()
    assert pooled["1"] - pooled["0"] < -3  # raw pooled means point the wrong way
    model = fit(data, "y", ["a", "b"])
    assert model.cov_type == "HC3" and ("a", "b") in model.terms
    table = effects_table(model, "max")
    assert _row(table, "a", "1", "0").estimate == pytest.approx(1.0, abs=0.3)
    emm = emm_table(model).query("factor == 'a' and by == ''").set_index("level").emm
    assert emm["1"] - emm["0"] == pytest.approx(1.0, abs=0.3)


def test_crossover_is_named_as_a_sign_flip():
    data = _runs([(c, d, 5) for c in (0, 1) for d in (0, 1)],
                 lambda c, d: 80 + (2 if d == 0 else -2) * c)  # fmt: skip
    model = fit(data, "y", ["a", "b"])
    table = effects_table(model, "max")
    sentences = overview(model, table, _Named(ACC, "y"))
    flips = [s for s in sentences if s.startswith("The effect of a flips sign with b")]
    assert len(flips) == 1 and "at b=0" in flips[0] and "at b=1" in flips[0]
    assert not any("no effect" in s for s in sentences)
    marginal = [s for s in sentences if s.startswith("a=1 vs a=0")]
    assert marginal and "not resolved" in marginal[0] and "ruled out" in marginal[0]


def test_one_seed_grid_uses_classical_errors_and_states_its_resolution():
    data = _runs([(a, b, 1) for a in (0, 1) for b in (0, 1, 2)], lambda a, b: 80 + a + 5 * b)
    model = fit(data, "y", ["a", "b"])
    assert model.one_seed and model.cov_type == "nonrobust" and model.terms == [("a",), ("b",)]
    table = effects_table(model, "max")
    text = resolution(model, table, _Named(ACC, "y"))
    assert text and "differences below" in text and "are not resolved" in text


def test_a_failed_seed_only_widens_its_own_cell_with_hc3():
    data = _runs([(x, 0, 5) for x in (0, 1, 2)], lambda x, b: 80 + 2 * (x > 0))
    data.loc[(data.a == "2") & (data.seed == 2), "y"] -= 42
    model = fit(data, "y", ["a"])
    table = effects_table(model, "max")
    one = _row(table, "a", "1", "0")
    two = _row(table, "a", "2", "0")
    assert one.estimate == pytest.approx(2.0, abs=0.3) and one.p_holm < 0.05
    assert two.lo < 0 < two.hi  # the failed seed's cell: wide, not resolved
    assert one.hi - one.lo < (two.hi - two.lo) / 5


def test_declared_family_gets_the_same_holm_p_in_any_report_declaring_it():
    data = _runs([(a, b, 5) for a in (0, 1) for b in (0, 1, 2)], lambda a, b: 80 + a + b)
    declared = ["a: 1 vs 0", "b: 2 vs 0 within a=0"]
    model = fit(data, "y", ["a", "b"])
    t1 = effects_table(model, "max", declared)
    sub = data[~((data.a == "1") & (data.b == "1"))]  # another report: fewer exploratory rows
    t2 = effects_table(fit(sub, "y", ["a", "b"]), "max", declared)
    c1, c2 = t1[t1.family == "confirmatory"], t2[t2.family == "confirmatory"]
    assert len(c1) == 2 and list(c1.declared) == declared
    assert len(t1[t1.family == "exploratory"]) != len(t2[t2.family == "exploratory"])
    # the family's p depends on the family only (here the same cells enter both)
    full = effects_table(model, "max", declared)
    assert np.allclose(c1.p_holm, full[full.family == "confirmatory"].p_holm)
    assert c2.p_holm.notna().all()
    explo = t1[t1.family == "exploratory"]
    assert not ((explo.factor == "a") & (explo.within == "")).any()  # not counted twice
    # Holm within each family: the confirmatory p's are adjusted over 2, not over all rows
    from statsmodels.stats.multitest import multipletests

    assert np.allclose(c1.p_holm, multipletests(c1.p, method="holm")[1])


def test_p_better_needs_five_seeds_a_side_and_has_a_bootstrap_interval():
    data = _runs([(a, 0, n) for a, n in ((0, 5), (1, 5))], lambda a, b: 80 + 0.2 * a, noise=1)
    table = effects_table(fit(data, "y", ["a"]), "max")
    r = table.iloc[0]
    assert 0 <= r.p_better_lo <= r.p_better <= r.p_better_hi <= 1
    few = _runs([(0, 0, 4), (1, 0, 5)], lambda a, b: 80 + a)
    assert math.isnan(effects_table(fit(few, "y", ["a"]), "max").iloc[0].p_better)
    # goal min: better is lower, so P(better) flips
    lower = effects_table(fit(data, "y", ["a"]), "min").iloc[0]
    assert lower.p_better == pytest.approx(1 - r.p_better)


def test_contrast_syntax():
    assert parse_spec("reg: l2 vs none within init=random data=42k") == {
        "factor": "reg",
        "level": "l2",
        "baseline": "none",
        "within": {"init": "random", "data": "42k"},
    }
    assert parse_spec(" task.alpha : 0.01 vs 0.0001")["factor"] == "task.alpha"
    with pytest.raises(ReportError, match="FACTOR: LEVEL vs BASELINE"):
        parse_spec("kaiming beats random")
    data = _runs([(a, 0, 3) for a in (0, 1)], lambda a, b: 80 + a)
    with pytest.raises(ReportError, match="has no level '7'; levels: 0, 1"):
        effects_table(fit(data, "y", ["a"]), "max", ["a: 7 vs 0"])


def test_within_the_paper_needs_an_equivalence_test():
    assert paper_verdict([89.1, 89.3, 89.6], 89.4) == "within"
    assert tost_p([89.1, 89.3, 89.6], 89.4) < 0.05
    wide = paper_verdict([86.0, 92.0, 89.0], 89.4)
    assert wide.startswith("consistent with (n=3, ±")
    # seeds=auto keeps calling such a cell undecided
    d = decide([86.0, 92.0, 89.0], reference=89.4)
    assert not d.decided and d.verdict.startswith("inconclusive (n=3, ±")


class _Named:
    """A Metric whose values sit in a column named ``column`` (the tests' ``y``)."""

    def __init__(self, metric: Metric, column: str):
        self._m, self.column = metric, column

    def __getattr__(self, name):
        return getattr(self._m, name)


def test_a_flip_declared_the_other_way_round_is_still_named_and_the_average_says_so():
    """full_grid: 'depth: 1 vs 2 within init=...' declared, so the table holds only 1 vs 2;
    the overview looked for 2 vs 1, found nothing and printed the average over init as an
    effect (depth=2 lowers by 0.82) beside confirmatory simple effects of opposite signs."""
    data = _runs([(a, b, 4) for a in (0, 1, 2) for b in (0, 1)],
                 lambda a, b: 90 + (3 if b == 0 else -3) * min(a, 1))  # fmt: skip
    model = fit(data, "y", ["a", "b"])
    declared = ["a: 0 vs 1 within b=0", "a: 0 vs 1 within b=1"]
    table = effects_table(model, "max", declared)
    assert not len(table[(table.factor == "a") & (table.level == "1") & (table.within != "")
                         & (table.within_d.map(lambda w: list(w) == ["b"]))])  # fmt: skip
    sentences = overview(model, table, _Named(ACC, "y"))
    flips = [s for s in sentences if s.startswith("The effect of a flips sign with b: a=1 vs a=0")]
    assert len(flips) == 1 and "+3.0" in flips[0] and "-3.0" in flips[0], sentences
    (average,) = [s for s in sentences if s.startswith("a=1 vs a=0:") or s.startswith("a=1 ")]
    assert "an average over b, whose simple effects differ in sign" in average


def test_opposite_signs_with_one_side_unresolved_are_not_called_a_flip():
    data = _runs([(a, b, 5) for a in (0, 1) for b in (0, 1)],
                 lambda a, b: 90 + (3 if b == 0 else -0.05) * a)  # fmt: skip
    model = fit(data, "y", ["a", "b"])
    sentences = overview(model, effects_table(model, "max"), _Named(ACC, "y"))
    assert not any("flips sign" in s for s in sentences)
    (changes,) = [s for s in sentences if s.startswith("The effect of a changes with b")]
    assert "not resolved" in changes
