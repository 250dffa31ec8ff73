"""Contrasts between factor levels (Welch, P(better), Holm) and variance shares over seeds."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from ablation.report.stats import (
    contrast,
    contrast_sentence,
    contrasts,
    probability_of_improvement,
    variance_components,
)

ORDER = {"random": 0, "kaiming": 1, "none": 0, "l2": 1, "42k": 0, "60k": 1}


def _sort_key(factor, level):
    return ORDER.get(level, 0)


def _study(effect: float, sd: float = 0.3, seeds: int = 5, rng_seed: int = 7) -> pd.DataFrame:
    """init x reg x data, 5 seeds each; only kaiming moves accuracy (by ``effect``)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for init, reg, data in itertools.product(["random", "kaiming"], ["none", "l2"], ["42k", "60k"]):
        for seed in range(seeds):
            acc = 90 + effect * (init == "kaiming") + rng.normal(0, sd)
            rows.append({"init": init, "reg": reg, "data": data, "seed": seed, "test_acc": acc})
    return pd.DataFrame(rows)


def test_probability_of_improvement_is_rliables_pairwise_share():
    assert probability_of_improvement([3, 4], [1, 2]) == 1.0
    assert probability_of_improvement([1, 2], [3, 4]) == 0.0
    assert probability_of_improvement([1, 3], [2, 2]) == 0.5
    assert probability_of_improvement([2, 2], [2, 2]) == 0.5  # ties count one half
    assert probability_of_improvement([1, 2, 3], [2]) == pytest.approx((0 + 0.5 + 1) / 3)


def test_planted_effect_is_found_and_null_effects_are_not_after_holm():
    table = contrasts(_study(effect=2.0), "test_acc", ["init", "reg", "data"], _sort_key)
    # 3 factors x 1 pair x 4 settings of the other two
    assert len(table) == 12 and set(table["factor"]) == {"init", "reg", "data"}
    init = table[table["factor"] == "init"]
    assert (init["p_holm"] < 0.05).all() and (init["p_better"] == 1.0).all()
    assert ((init["lo"] < 2.0) & (init["hi"] > 2.0)).all()
    assert (init["diff"].between(1.5, 2.5)).all()
    nulls = table[table["factor"] != "init"]
    assert (nulls["p_holm"] >= 0.05).all()
    assert (table["p_holm"] >= table["p"]).all()
    row = init.iloc[0]
    assert row["a"] == "random" and row["b"] == "kaiming" and row["at"] == "reg=none, data=42k"
    sentence = contrast_sentence(row)
    head = "init=kaiming beats init=random at reg=none, data=42k by "
    assert sentence.startswith(head), sentence
    assert f"by {row['diff']:.1f} points [{row['lo']:.1f}, {row['hi']:.1f}], " in sentence
    assert "P(better) = 1.00, Holm p < 0.001." in sentence
    null_sentence = contrast_sentence(nulls.iloc[0])
    assert ": no clear difference, " in null_sentence and "beats" not in null_sentence


def test_no_effect_anywhere_gives_no_significant_contrast():
    table = contrasts(_study(effect=0.0, rng_seed=11), "test_acc", ["init", "reg", "data"])
    assert len(table) == 12 and (table["p_holm"] >= 0.05).all()


def test_a_loss_is_said_from_the_winners_side():
    a = np.array([92.0, 92.2, 91.9, 92.1, 92.3])
    row = {"factor": "init", "a": "random", "b": "kaiming", "at": "", **contrast(a - 2, a)}
    row["p_holm"] = row["p"]
    sentence = contrast_sentence(row)
    assert sentence.startswith("init=random beats init=kaiming by 2.0 points [")
    assert "P(better) = 1.00" in sentence


def test_settings_with_too_few_seeds_are_skipped():
    data = _study(effect=2.0, seeds=3)
    data = data[~((data["init"] == "kaiming") & (data["reg"] == "l2") & (data["seed"] == 0))]
    table = contrasts(data, "test_acc", ["init", "reg", "data"], _sort_key)
    init = table[table["factor"] == "init"]
    assert set(init["at"]) == {"reg=none, data=42k", "reg=none, data=60k"}


def _planted(rng, var: float, n: int) -> np.ndarray:
    """n effects whose sample variance is exactly ``var`` (the share planted in this study)."""
    x = rng.normal(0, 1, n)
    return (x - x.mean()) / x.std(ddof=1) * np.sqrt(var)


def _crossed(data_var: float, init_var: float, resid_var: float, n: int, rng_seed: int):
    """n data seeds crossed with n init seeds, one run each, with planted variances."""
    rng = np.random.default_rng(rng_seed)
    data_eff = _planted(rng, data_var, n)
    init_eff = _planted(rng, init_var, n)
    rows = [
        {"data_seed": d, "seed": s, "test_acc": 90 + data_eff[d] + init_eff[s]}
        for d, s in itertools.product(range(n), range(n))
    ]
    frame = pd.DataFrame(rows)
    frame["test_acc"] += rng.normal(0, np.sqrt(resid_var), len(frame))
    return frame


@pytest.mark.parametrize("rng_seed", [0, 1, 2])
def test_variance_decomposition_recovers_planted_shares(rng_seed):
    frame = _crossed(0.70, 0.30, 0.05, n=10, rng_seed=rng_seed)
    shares = variance_components(frame)
    assert shares.share("data") == pytest.approx(0.70 / 1.05, abs=0.05)
    assert shares.share("init") == pytest.approx(0.30 / 1.05, abs=0.05)
    assert shares.share("residual") == pytest.approx(0.05 / 1.05, abs=0.03)
    assert shares.n_runs == 100 and shares.n_cells == 1
    assert "% comes from the training subset" in shares.sentence()


def test_variance_decomposition_pools_cells_and_ignores_their_means():
    cells = []
    for k, (cell, offset) in enumerate([("a", 0.0), ("b", 5.0)]):
        c = _crossed(0.2, 0.8, 0.01, n=8, rng_seed=10 + k).assign(cell=cell)
        c["test_acc"] += offset
        cells.append(c)
    shares = variance_components(pd.concat(cells), by=["cell"])
    assert shares.n_cells == 2
    assert shares.init / (shares.data + shares.init) == pytest.approx(0.8, abs=0.05)
    assert shares.n_runs == 128


def test_variance_decomposition_needs_both_seeds_varied():
    frame = _crossed(0.5, 0.5, 0.1, n=4, rng_seed=0)
    with pytest.raises(ValueError, match="no cell crosses at least 2 values of 'data_seed'"):
        variance_components(frame[frame["data_seed"] == 0])


def test_report_shows_variance_shares_only_when_data_seed_varies_apart_from_seed(tmp_path):
    from types import SimpleNamespace

    from ablation.report.render import Document, to_markdown
    from ablation.report.seed_sections import variance_section

    frame = _crossed(0.70, 0.30, 0.05, n=6, rng_seed=3).assign(cell="c", init="kaiming")
    frame["params"] = [
        {"data_seed": str(d), "seed": str(s)}
        for d, s in zip(frame["data_seed"], frame["seed"], strict=True)
    ]
    runs = frame.drop(columns="data_seed")
    doc = Document("t")
    variance_section(doc, SimpleNamespace(fin=runs, vary=["init"]))
    md = to_markdown(doc)
    assert "### Where the spread over seeds comes from" in md
    shares = re.search(r"(\d+)% comes from the training subset, (\d+)% from the init", md)
    assert shares and 55 <= int(shares[1]) <= 80 and 20 <= int(shares[2]) <= 40, md
    assert "(36 runs in 1 cell(s))" in md
    same = runs.assign(params=[{"seed": str(s)} for s in runs["seed"]])
    doc = Document("t")
    variance_section(doc, SimpleNamespace(fin=same, vary=["init"]))
    assert doc.blocks == []
