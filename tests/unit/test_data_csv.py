"""load("kaggle_csv"): a Kaggle-format train.csv written here from real MNIST rows, its
cache, the test-set overlap warning, and every kind of broken file."""

import gzip
import hashlib
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from ablation.data import DataError, load, packaged
from ablation.data import cache as data_cache
from ablation.data.loading import kaggle_cache_path

HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def csv_text(images: np.ndarray, labels: np.ndarray) -> str:
    rows = [
        ",".join([str(int(label))] + [str(int(v)) for v in image.ravel()])
        for image, label in zip(images, labels, strict=True)
    ]
    return "\n".join([HEADER, *rows]) + "\n"


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cache")
    load("mnist", n_train=100, cache_dir=path)
    return path


@pytest.fixture(scope="module")
def mnist(cache_dir):
    return packaged.load_source(cache_dir)


@pytest.fixture(scope="module")
def good_text(mnist) -> str:
    return csv_text(mnist.train_images[:200], mnist.train_labels[:200])


def as_pixels(X: np.ndarray) -> np.ndarray:
    return np.rint(X * 255).astype(np.uint8).reshape(-1, 28, 28)


def test_csv_round_trip_and_official_test_set(tmp_path, cache_dir, mnist, good_text):
    csv = tmp_path / "train.csv"
    csv.write_text(good_text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rows from the training set: no overlap warning
        ds = load("kaggle_csv", path=csv, cache_dir=cache_dir)
    assert np.array_equal(as_pixels(ds.X_train), mnist.train_images[:200])
    assert np.array_equal(ds.y_train, mnist.train_labels[:200])
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert np.array_equal(as_pixels(ds.X_test), mnist.test_images)
    assert np.array_equal(ds.y_test, mnist.test_labels)
    assert ds.source.startswith(str(csv))
    assert ds.n_features == 784 and ds.image_shape == (28, 28)


def test_csv_is_cached_and_a_damaged_cache_rebuilt(tmp_path, cache_dir, good_text):
    csv = tmp_path / "train.csv"
    csv.write_text(good_text)
    mnist_cache = packaged.cache_path(cache_dir)
    cache_dir = tmp_path / "cache"  # a fresh one, holding only the MNIST test set
    cache_dir.mkdir()
    shutil.copy(mnist_cache, cache_dir)
    where = kaggle_cache_path(hashlib.sha256(good_text.encode()).hexdigest(), cache_dir)
    assert not where.exists()
    first = load("kaggle_csv", path=csv, n_train=150, seed=2, cache_dir=cache_dir)
    assert where.is_file()
    where.write_bytes(where.read_bytes()[:1000])
    with pytest.warns(UserWarning, match=f"cache file {where} cannot be read"):
        second = load("kaggle_csv", path=csv, n_train=150, seed=2, cache_dir=cache_dir)
    assert np.array_equal(first.X_train, second.X_train)
    assert first.checksum == second.checksum
    assert data_cache.read(where, ("train_images", "train_labels")) is not None


def test_rows_copied_from_the_test_set_give_a_warning(tmp_path, cache_dir, mnist):
    images = np.concatenate([mnist.train_images[:150], mnist.test_images[:50]])
    labels = np.concatenate([mnist.train_labels[:150], mnist.test_labels[:50]])
    csv = tmp_path / "train.csv"
    csv.write_text(csv_text(images, labels))
    with pytest.warns(UserWarning, match="50 of the 200 training images .* pixel-identical"):
        load("kaggle_csv", path=csv, cache_dir=cache_dir)


def replace_cell(text: str, line: int, column: int, value: str) -> str:
    lines = text.split("\n")
    cells = lines[line - 1].split(",")
    cells[column] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines)


def drop_cell(text: str, line: int) -> str:
    lines = text.split("\n")
    lines[line - 1] = lines[line - 1].rsplit(",", 1)[0]
    return "\n".join(lines)


BROKEN = {
    "empty": (lambda t: "", "is empty"),
    "header_only": (lambda t: HEADER + "\n", "has a header but no data rows"),
    "wrong_header": (lambda t: t.replace("pixel5,", "pixel_5,", 1), "line 1: header"),
    "short_row": (lambda t: drop_cell(t, 5), "line 5 has 784 columns, expected 785"),
    "non_numeric": (lambda t: replace_cell(t, 7, 4, "x"), "line 7, column pixel3: 'x'"),
    "float_cell": (lambda t: replace_cell(t, 8, 1, "0.5"), "line 8, column pixel0: '0.5'"),
    "label_10": (lambda t: replace_cell(t, 4, 0, "10"), "line 4: label 10 is outside 0-9"),
    "pixel_256": (lambda t: replace_cell(t, 3, 11, "256"), "line 3, column pixel10: value 256"),
    "pixel_negative": (lambda t: replace_cell(t, 6, 2, "-1"), "line 6, column pixel1: value -1"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_csv_raises_naming_file_and_line_and_leaves_cache_alone(
    tmp_path, cache_dir, good_text, case
):
    mutate, message = BROKEN[case]
    csv = tmp_path / "train.csv"
    csv.write_text(mutate(good_text))
    before = snapshot(cache_dir)
    with pytest.raises(DataError, match=message) as caught:
        load("kaggle_csv", path=csv, cache_dir=cache_dir)
    assert f"Kaggle CSV {csv}" in str(caught.value)
    assert snapshot(cache_dir) == before


def test_blank_line_inside_the_file_is_reported(tmp_path, cache_dir, good_text):
    lines = good_text.split("\n")
    csv = tmp_path / "train.csv"
    csv.write_text("\n".join(lines[:9] + [""] + lines[9:]))
    with pytest.raises(DataError, match=f"Kaggle CSV {csv} line 10 is empty"):
        load("kaggle_csv", path=csv, cache_dir=cache_dir)


def test_missing_and_compressed_files(tmp_path, cache_dir, good_text):
    before = snapshot(cache_dir)
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError, match=f"Kaggle CSV {missing} does not exist"):
        load("kaggle_csv", path=missing, cache_dir=cache_dir)
    packed = tmp_path / "train.csv.gz"
    packed.write_bytes(gzip.compress(good_text.encode()))
    with pytest.raises(DataError, match=f"Kaggle CSV {packed} is not a text file"):
        load("kaggle_csv", path=packed, cache_dir=cache_dir)
    assert snapshot(cache_dir) == before
