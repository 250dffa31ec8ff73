"""Stratified, seeded, nested row selection (ablation.data.split) on real and skewed labels."""

import numpy as np
import pytest

from ablation.data import DataError
from ablation.data.split import fixed_holdout, select_rows, stratified_order


def prefix_deviation(labels: np.ndarray, seed: int) -> float:
    """Largest |rows of class c among the first n - n * share of c| over all n and c."""
    order = stratified_order(labels, seed)
    classes, counts = np.unique(labels, return_counts=True)
    taken = (labels[order][:, None] == classes[None, :]).cumsum(axis=0)
    n = np.arange(1, len(labels) + 1)[:, None]
    return float(np.abs(taken - n * counts / len(labels)).max())


@pytest.fixture(scope="module")
def skewed() -> np.ndarray:
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(10), [500, 40, 7, 300, 120, 60, 90, 3, 250, 30])
    return rng.permutation(labels)


def test_order_is_a_permutation_of_all_rows(skewed):
    order = stratified_order(skewed, seed=0)
    assert np.array_equal(np.sort(order), np.arange(len(skewed)))


def test_every_prefix_is_stratified_within_about_one_row(skewed):
    # Webster apportionment: each class within ~1 row of its exact share for every n.
    assert prefix_deviation(skewed, seed=0) < 1.5
    balanced = np.tile(np.arange(10), 100)
    assert prefix_deviation(balanced, seed=3) < 1.0


def test_subsets_are_nested_for_every_size(skewed):
    previous = set()
    for n in range(240, len(skewed) + 1, 37):
        rows, _ = select_rows(skewed, n, 0, seed=5, what="test labels")
        assert len(rows) == n and len(np.unique(rows)) == n
        assert previous <= set(rows.tolist())
        previous = set(rows.tolist())


def test_same_seed_same_rows_other_seed_other_rows(skewed):
    a, _ = select_rows(skewed, 300, 0, seed=1, what="x")
    b, _ = select_rows(skewed, 300, 0, seed=1, what="x")
    c, _ = select_rows(skewed, 300, 0, seed=2, what="x")
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_validation_is_carved_from_the_subset(skewed):
    subset, _ = select_rows(skewed, 800, 0, seed=4, what="x")
    train, val = select_rows(skewed, 800, 100, seed=4, what="x")
    assert len(train) == 700 and len(val) == 100
    assert not set(train.tolist()) & set(val.tolist())
    assert np.array_equal(np.sort(np.concatenate([train, val])), subset)
    shares = np.bincount(skewed, minlength=10) / len(skewed)
    assert np.abs(np.bincount(skewed[val], minlength=10) - 100 * shares).max() < 2.5


@pytest.mark.parametrize(
    ("n_train", "n_val", "message"),
    [
        (1401, 0, "1400 training rows available"),
        (9, 0, "n_train=9 is too small .* no row of class"),
        (100, 100, "n_val=100 leaves no training rows"),
        (100, 95, "n_val=95 out of n_train=100 leaves no training row of class"),
    ],
)
def test_impossible_sizes_raise_data_error(skewed, n_train, n_val, message):
    with pytest.raises(DataError, match=message):
        select_rows(skewed, n_train, n_val, seed=0, what="'skewed'")


def test_size_limits_name_the_smallest_valid_value(skewed):
    order = stratified_order(skewed, seed=0)
    smallest = max(int(np.flatnonzero(skewed[order] == c)[0]) for c in range(10)) + 1
    select_rows(skewed, smallest, 0, seed=0, what="x")  # holds every class: fine
    with pytest.raises(DataError, match=f"use n_train >= {smallest}$"):
        select_rows(skewed, smallest - 1, 0, seed=0, what="x")
    with pytest.raises(DataError, match=f"use n_val <= {1000 - smallest}$"):
        select_rows(skewed, 1000, 1000 - smallest + 1, seed=0, what="x")


def test_fixed_holdout_is_stratified_and_disjoint(skewed):
    rest, held = fixed_holdout(skewed, 0.2, seed=11)
    assert len(held) == 280 and len(rest) == 1120
    assert np.array_equal(np.sort(np.concatenate([rest, held])), np.arange(1400))
    shares = np.bincount(skewed, minlength=10) / len(skewed)
    assert np.abs(np.bincount(skewed[held], minlength=10) - 280 * shares).max() < 1.5
