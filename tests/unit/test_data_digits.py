"""load("digits"): scikit-learn's bundled 8x8 digits with a fixed stratified test split."""

import numpy as np
from sklearn.datasets import load_digits

from ablation.data import load


def test_digits_shapes_types_and_scaling(tmp_path):
    ds = load("digits", cache_dir=tmp_path)
    assert ds.n_features == 64 and ds.image_shape == (8, 8) and ds.n_classes == 10
    assert ds.X_train.shape == (1437, 64) and ds.X_test.shape == (360, 64)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.X_train.min() == 0.0 and ds.X_train.max() == 1.0  # pixels 0..16 divided by 16
    assert list(tmp_path.iterdir()) == []  # bundled and tiny: nothing cached


def test_train_and_test_together_are_exactly_sklearns_digits(tmp_path):
    ds = load("digits", cache_dir=tmp_path)
    ours = np.column_stack(
        [np.concatenate([ds.X_train, ds.X_test]) * 16, np.concatenate([ds.y_train, ds.y_test])]
    )
    bunch = load_digits()
    theirs = np.column_stack([bunch.data, bunch.target])
    assert np.array_equal(np.unique(ours, axis=0), np.unique(theirs, axis=0))
    assert len(ours) == len(theirs) == 1797


def test_test_split_is_stratified_and_independent_of_seed(tmp_path):
    a = load("digits", seed=0, cache_dir=tmp_path)
    b = load("digits", seed=5, n_train=500, cache_dir=tmp_path)
    assert np.array_equal(a.X_test, b.X_test) and np.array_equal(a.y_test, b.y_test)
    assert a.checksum == b.checksum
    shares = np.bincount(load_digits().target) / 1797
    assert np.abs(np.bincount(a.y_test) - 360 * shares).max() < 1.5


def test_digits_subsets_are_nested_and_seeded(tmp_path):
    sizes = [200, 500, None]
    rows = [set(load("digits", n, seed=4, cache_dir=tmp_path).train_indices) for n in sizes]
    assert [len(r) for r in rows] == [200, 500, 1437]
    assert rows[0] < rows[1] < rows[2]
    other = set(load("digits", 500, seed=5, cache_dir=tmp_path).train_indices)
    assert other != rows[1]
