"""The `Dataset` a caller gets back, the `DataError` every bad input raises, and
`Source`, the decoded uint8 arrays a reader hands to `load`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ablation.errors import UserError

N_CLASSES = 10  # every source here is a digits dataset with labels 0..9
SPLITS = ("train_images", "train_labels", "test_images", "test_labels")


class DataError(UserError, ValueError):
    """A data source or an argument of `load` is wrong. The message names the
    file (or argument), what was wrong, what was expected and what to do."""


def arrays_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 hex of the arrays' raw bytes, concatenated in the order given."""
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(memoryview(np.ascontiguousarray(array)).cast("B"))
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Source:
    """Decoded, validated source arrays: images (n, h, w) uint8, labels (n,) uint8."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: str  # where it came from, for humans
    pixel_max: int = 255  # images are divided by this (MNIST 255, sklearn digits 16)
    checksum: str = ""  # filled in by `with_checksum` when empty

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(getattr(self, name) for name in SPLITS)

    def with_checksum(self) -> Source:
        if self.checksum:
            return self
        return Source(*self.arrays(), self.source, self.pixel_max, arrays_sha256(*self.arrays()))


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """One loaded dataset. Features are float32 in [0, 1] (pixels / pixel_max),
    labels int64 in 0..9. Rows keep the source order (sorted by their index in
    the source's training set, see `train_indices`); shuffle in the training loop.

    `checksum` is the SHA-256 of the source's uint8 arrays (train images, train
    labels, test images, test labels, in that order), so it names the data a run
    saw independent of `n_train`, `n_val` and `seed`, which select rows from it.
    """

    name: str
    source: str
    checksum: str
    seed: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    train_indices: np.ndarray  # rows of the source training set in X_train
    val_indices: np.ndarray  # rows of the source training set in X_val
    image_shape: tuple[int, int]
    n_classes: int = N_CLASSES

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]

    def __repr__(self) -> str:
        h, w = self.image_shape
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
            f"test={len(self.y_test)}, features={self.n_features} ({h}x{w}), "
            f"classes={self.n_classes}, seed={self.seed}, checksum={self.checksum[:12]}, "
            f"source={self.source!r})"
        )
