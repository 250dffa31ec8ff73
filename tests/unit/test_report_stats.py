"""Statistics behind the report: t-intervals, verdicts, ANOVA and its sentences."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from ablation.report.stats import anova, effect_sentences, format_p, t_ci, verdict


def _grid(seeds: int, effect_a: float, rng_seed: int = 2) -> pd.DataFrame:
    """2x2x2 design; only factor a has an effect (effect_a points); noise sd = 1."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for a, b, c in itertools.product(["lo", "hi"], ["x", "y"], ["u", "v"]):
        for _ in range(seeds):
            acc = 80 + effect_a * (a == "hi") + rng.normal(0, 1)
            rows.append({"a": a, "b": b, "c": c, "test_acc": acc})
    return pd.DataFrame(rows)


def test_t_ci_matches_scipy():
    x = np.array([88.1, 89.3, 88.7, 90.2, 89.0])
    mean, lo, hi, n = t_ci(x)
    ref_lo, ref_hi = sps.t.interval(0.95, df=4, loc=x.mean(), scale=sps.sem(x))
    assert n == 5 and mean == pytest.approx(x.mean())
    assert lo == pytest.approx(ref_lo) and hi == pytest.approx(ref_hi)
    _, lo99, hi99, _ = t_ci(x, level=0.99)
    assert (lo99, hi99) == pytest.approx(sps.t.interval(0.99, df=4, loc=x.mean(), scale=sps.sem(x)))


def test_t_ci_one_value_or_none():
    mean, lo, hi, n = t_ci([77.7, float("nan")])
    assert (mean, n) == (77.7, 1) and math.isnan(lo) and math.isnan(hi)
    assert t_ci([])[3] == 0 and math.isnan(t_ci([])[0])


@pytest.mark.parametrize(
    ("paper", "mean", "lo", "hi", "expected"),
    [
        (89.4, 89.5, 89.0, 90.0, "within"),
        (89.4, 90.5, 90.0, 91.0, "above"),
        (89.4, 88.5, 88.0, 89.0, "below"),
        (89.4, 90.0, math.nan, math.nan, "above"),  # one seed: point comparison
        (89.4, 89.0, math.nan, math.nan, "below"),
        (89.4, 89.4, math.nan, math.nan, "within"),
        (89.4, math.nan, math.nan, math.nan, "not run"),
        (89.0, 89.5, 89.0, 90.0, "within"),  # interval end counts as inside
    ],
)
def test_verdict(paper, mean, lo, hi, expected):
    assert verdict(paper, mean, lo, hi) == expected


def test_anova_finds_planted_effect_and_no_other():
    data = _grid(seeds=5, effect_a=2.0)
    result = anova(data, "test_acc", ["a", "b", "c"])
    table = result.table.set_index("term")
    assert result.fitted and set(table.index) == {"a", "b", "c", "a × b", "a × c", "b × c"}
    assert table.loc["a", "p"] < 0.01
    assert table.loc["a", "partial_eta2"] > 0.5
    for term in ["b", "c", "a × b", "a × c", "b × c"]:
        assert table.loc[term, "p"] > 0.05, term
    # residual df: 40 runs - 1 - 3 main - 3 interactions
    assert result.df_resid == 33
    sentences = effect_sentences(data, "test_acc", ["a", "b", "c"], result)
    assert len(sentences) == 1
    assert sentences[0].startswith("a = lo lowers test accuracy by") or sentences[0].startswith(
        "a = hi raises test accuracy by"
    )


def test_effect_sentence_uses_baseline_order_and_numbers():
    data = _grid(seeds=5, effect_a=3.0)
    result = anova(data, "test_acc", ["a", "b", "c"])
    order = {"lo": 0, "hi": 1}
    (sentence,) = effect_sentences(
        data, "test_acc", ["a", "b", "c"], result, sort_key=lambda f, lv: order.get(lv, 0)
    )
    diff = data[data.a == "hi"].test_acc.mean() - data[data.a == "lo"].test_acc.mean()
    assert f"a = hi raises test accuracy by {diff:.1f} points on average vs a = lo" in sentence
    assert "(p < 0.001, partial η² = " in sentence


def test_partial_eta_squared_definition():
    data = _grid(seeds=4, effect_a=1.5, rng_seed=3)
    result = anova(data, "test_acc", ["a", "b", "c"])
    from statsmodels.formula.api import ols

    model = ols("test_acc ~ (C(a) + C(b) + C(c)) ** 2", data=data).fit()
    ss_a = result.table.set_index("term").loc["a", "sum_sq"]
    ss_res = model.ssr
    assert result.table.set_index("term").loc["a", "partial_eta2"] == pytest.approx(
        ss_a / (ss_a + ss_res)
    )


def test_one_seed_per_cell_fits_main_effects_only_and_says_so():
    data = _grid(seeds=1, effect_a=5.0)
    result = anova(data, "test_acc", ["a", "b", "c"], interactions=False)
    assert result.fitted and list(result.table["term"]) == ["a", "b", "c"]
    assert result.df_resid == 4
    assert any("one run per cell" in n for n in result.notes)


def test_unestimable_interaction_is_left_out():
    data = _grid(seeds=3, effect_a=2.0)
    data = data[~((data.b == "y") & (data.c == "v"))]  # no b=y, c=v run at all
    result = anova(data, "test_acc", ["a", "b", "c"])
    assert "b × c" not in set(result.table["term"])
    assert any("b × c left out" in n for n in result.notes)


def test_constant_factor_and_too_few_runs():
    data = _grid(seeds=1, effect_a=1.0).iloc[[0, 4]]  # a = lo, hi; b, c constant
    assert list(data["a"]) == ["lo", "hi"] and data["b"].nunique() == data["c"].nunique() == 1
    result = anova(data, "test_acc", ["a", "b", "c"])
    assert not result.fitted and any("no residual degrees of freedom" in n for n in result.notes)
    single = anova(data.assign(a="lo"), "test_acc", ["a"])
    assert not single.fitted


def test_format_p():
    assert format_p(0.0004) == "p < 0.001"
    assert format_p(0.0123) == "p = 0.012"
