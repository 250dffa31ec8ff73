"""load("mnist_idx"): IDX files written here from real MNIST rows, raw and gzip, and
every kind of broken file."""

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from ablation.data import DataError, load, packaged
from ablation.data.dataset import arrays_sha256

NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding, written independently of the reader: magic, big-endian dims, data."""
    magic = 0x0800 | array.ndim
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_idx_dir(directory: Path, arrays: dict, gz: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for key, name in NAMES.items():
        data = idx_bytes(arrays[key])
        if gz:
            (directory / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / name).write_bytes(data)
    return directory


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """Holds a real MNIST cache file, which no bad IDX input may touch."""
    path = tmp_path_factory.mktemp("cache")
    load("mnist", n_train=100, cache_dir=path)
    return path


@pytest.fixture(scope="module")
def small(cache_dir) -> dict[str, np.ndarray]:
    """300 real training and 100 real test images with their labels."""
    src = packaged.load_source(cache_dir)
    return {
        "train_images": src.train_images[:300],
        "train_labels": src.train_labels[:300],
        "test_images": src.test_images[:100],
        "test_labels": src.test_labels[:100],
    }


def as_pixels(X: np.ndarray) -> np.ndarray:
    return np.rint(X * 255).astype(np.uint8).reshape(-1, 28, 28)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_gives_back_what_was_written(tmp_path, cache_dir, small, gz):
    before = snapshot(cache_dir)
    directory = write_idx_dir(tmp_path / "idx", small, gz=gz)
    ds = load("mnist_idx", path=directory, cache_dir=cache_dir)
    assert np.array_equal(as_pixels(ds.X_train), small["train_images"])
    assert np.array_equal(ds.y_train, small["train_labels"])
    assert np.array_equal(as_pixels(ds.X_test), small["test_images"])
    assert np.array_equal(ds.y_test, small["test_labels"])
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert np.array_equal(ds.X_train, small["train_images"].reshape(300, 784) / np.float32(255))
    assert ds.checksum == arrays_sha256(*small.values())
    assert ds.source == str(directory) and ds.n_features == 784
    assert snapshot(cache_dir) == before  # IDX files are read directly, never cached


def test_gzip_is_detected_by_content_not_by_name(tmp_path, cache_dir, small):
    directory = tmp_path / "idx"
    directory.mkdir()
    for key, name in NAMES.items():
        data = idx_bytes(small[key])
        if key.startswith("train"):  # gzip content under the plain name
            (directory / name).write_bytes(gzip.compress(data))
        else:  # raw content under a .gz name
            (directory / f"{name}.gz").write_bytes(data)
    ds = load("mnist_idx", path=directory, cache_dir=cache_dir)
    assert np.array_equal(ds.y_train, small["train_labels"])
    assert np.array_equal(as_pixels(ds.X_test), small["test_images"])


def test_dotted_mirror_names_and_subsets(tmp_path, cache_dir, small):
    directory = tmp_path / "idx"
    directory.mkdir()
    for key, name in NAMES.items():
        (directory / name.replace("-idx", ".idx")).write_bytes(idx_bytes(small[key]))
    ds = load("mnist_idx", n_train=100, n_val=20, seed=1, path=directory, cache_dir=cache_dir)
    assert len(ds.y_train) == 80 and len(ds.y_val) == 20
    assert np.array_equal(ds.y_train, small["train_labels"][ds.train_indices])


def damage(directory: Path, small: dict, case: str) -> Path:
    """Write a valid IDX directory, break it as `case` says, return the file at fault."""
    write_idx_dir(directory, small)
    images = directory / NAMES["train_images"]
    labels = directory / NAMES["train_labels"]
    if case == "truncated_gzip":
        data = gzip.compress(images.read_bytes())
        images.unlink()
        images = directory / (NAMES["train_images"] + ".gz")
        images.write_bytes(data[: len(data) // 2])
    elif case == "corrupt_gzip":
        data = bytearray(gzip.compress(images.read_bytes()))
        data[20:60] = b"\xff" * 40
        images.write_bytes(bytes(data))
    elif case == "wrong_magic":
        images.write_bytes(idx_bytes(small["train_labels"]))  # a labels file in its place
    elif case == "short_data":
        images.write_bytes(images.read_bytes()[:-10])
    elif case == "empty_file":
        images.write_bytes(b"")
    elif case == "count_mismatch":
        labels.write_bytes(idx_bytes(small["train_labels"][:-1]))
        return labels
    elif case == "label_out_of_range":
        bad = small["train_labels"].copy()
        bad[17] = 10
        labels.write_bytes(idx_bytes(bad))
        return labels
    return images


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("truncated_gzip", "is gzip-compressed but truncated or corrupt"),
        ("corrupt_gzip", "is gzip-compressed but truncated or corrupt"),
        ("wrong_magic", r"has magic number 2049 \(0x00000801\), expected 2051"),
        ("short_data", r"header says shape \(300, 28, 28\), i.e. 235200 data bytes"),
        ("empty_file", "has 0 bytes, too few for an IDX header"),
        ("count_mismatch", "has 300 images but .* has 299 labels"),
        ("label_out_of_range", "label 10 at index 17 is outside 0-9"),
    ],
)
def test_broken_idx_file_raises_naming_it_and_leaves_cache_alone(
    tmp_path, cache_dir, small, case, message
):
    at_fault = damage(tmp_path / "idx", small, case)
    before = snapshot(cache_dir)
    with pytest.raises(DataError, match=message) as caught:
        load("mnist_idx", path=tmp_path / "idx", cache_dir=cache_dir)
    assert str(at_fault) in str(caught.value)
    assert snapshot(cache_dir) == before


def test_missing_file_lists_every_path_looked_for(tmp_path, cache_dir, small):
    directory = write_idx_dir(tmp_path / "idx", small)
    (directory / NAMES["test_labels"]).unlink()
    before = snapshot(cache_dir)
    with pytest.raises(DataError, match="IDX files missing") as caught:
        load("mnist_idx", path=directory, cache_dir=cache_dir)
    for name in ("t10k-labels-idx1-ubyte", "t10k-labels-idx1-ubyte.gz", "t10k-labels.idx1-ubyte"):
        assert str(directory / name) in str(caught.value)
    assert "train-images" not in str(caught.value)  # only the missing one is listed
    assert snapshot(cache_dir) == before


def test_path_that_is_not_a_directory(tmp_path, cache_dir):
    with pytest.raises(DataError, match=f"{tmp_path / 'nowhere'} is not a directory"):
        load("mnist_idx", path=tmp_path / "nowhere", cache_dir=cache_dir)


def test_train_and_test_image_sizes_must_agree(tmp_path, cache_dir, small):
    directory = write_idx_dir(tmp_path / "idx", small)
    (directory / NAMES["test_images"]).write_bytes(idx_bytes(small["test_images"][:, :27, :]))
    with pytest.raises(DataError, match=r"images of \(28, 28\) but .* of \(27, 28\)"):
        load("mnist_idx", path=directory, cache_dir=cache_dir)


def test_idx_copy_of_packaged_mnist_gives_same_checksum_and_subsets(tmp_path, cache_dir):
    src = packaged.load_source(cache_dir)
    full = {key: getattr(src, key) for key in NAMES}
    directory = write_idx_dir(tmp_path / "idx", full)
    from_idx = load("mnist_idx", n_train=42000, seed=0, path=directory, cache_dir=cache_dir)
    from_pkg = load("mnist", n_train=42000, seed=0, cache_dir=cache_dir)
    assert from_idx.checksum == from_pkg.checksum == packaged.DATASET_SHA256
    assert np.array_equal(from_idx.train_indices, from_pkg.train_indices)
    assert np.array_equal(from_idx.X_train, from_pkg.X_train)
