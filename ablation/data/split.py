"""Stratified, seeded, nested row selection.

One ordering of all rows serves every subset size: each class's rows are
shuffled by one seeded permutation, and the r-th row of a class with m rows gets
the key (r + 0.5) / m. Sorting all rows by key (ties by class) interleaves the
classes so that every prefix of length n holds the first ~n * m / N rows of each
class (the Webster / Sainte-Lague apportionment: each class is at most about one
row off its exact share n * m / N; on MNIST under 0.9 rows for every n).
Subsets are prefixes, so for one seed the 10k subset is inside the 20k one,
which is inside the 42k one, for any sizes.
"""

from __future__ import annotations

import math

import numpy as np

from ablation.data.dataset import DataError


def stratified_order(labels: np.ndarray, seed: int | list[int]) -> np.ndarray:
    """All row indices of `labels`, ordered so that every prefix is stratified."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    rows, keys, classes = [], [], []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        rows.append(members)
        keys.append((np.arange(members.size) + 0.5) / members.size)
        classes.append(np.full(members.size, c))
    if not rows:
        return np.empty(0, dtype=np.int64)
    order = np.lexsort((np.concatenate(classes), np.concatenate(keys)))
    return np.concatenate(rows)[order].astype(np.int64)


def select_rows(
    labels: np.ndarray, n_train: int | None, n_val: int, seed: int, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """(train_rows, val_rows), each sorted, carved from the source's training labels.

    The subset is the first `n_train` rows of `stratified_order(labels, seed)`;
    its last `n_val` rows are the validation split, the rest the training rows.
    So validation comes out of the subset, is stratified and seeded, and the
    training rows stay nested across `n_train` for a fixed `n_val`.
    """
    available = len(labels)
    if n_train is None:
        n_train = available
    if n_train > available:
        raise DataError(
            f"n_train={n_train} is larger than the {available} training rows available in "
            f"{what}; use n_train=None for all of them or a value up to {available}"
        )
    if n_val >= n_train:
        raise DataError(
            f"n_val={n_val} leaves no training rows out of n_train={n_train} for {what}; "
            f"n_val is carved out of the n_train subset, so use n_val < n_train"
        )
    order = stratified_order(labels, seed)
    # The shortest prefix holding every class: fewer training rows would drop one.
    first_seen = np.unique(labels[order], return_index=True)[1]
    min_fit = int(first_seen.max()) + 1 if first_seen.size else 0
    n_fit = n_train - n_val
    if n_fit < min_fit:
        missing = np.setdiff1d(labels, labels[order[:n_fit]]).tolist()
        if n_val == 0:
            raise DataError(
                f"n_train={n_train} is too small for {what}: a stratified subset of that size "
                f"(seed {seed}) has no row of class(es) {missing}; use n_train >= {min_fit}"
            )
        raise DataError(
            f"n_val={n_val} out of n_train={n_train} leaves no training row of class(es) "
            f"{missing} in {what} (seed {seed}); use n_val <= {n_train - min_fit}"
        )
    train_rows, val_rows = order[:n_fit], order[n_fit:n_train]
    return np.sort(train_rows), np.sort(val_rows)


def fixed_holdout(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rest, holdout): a stratified `fraction` of the rows (rounded up, as scikit-learn's
    train_test_split does), fixed by `seed`."""
    order = stratified_order(labels, seed)
    n_holdout = math.ceil(len(labels) * fraction)
    return np.sort(order[n_holdout:]), np.sort(order[:n_holdout])
