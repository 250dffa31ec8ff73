"""Softmax and the fused softmax cross-entropy, in place and log-sum-exp stable.

Row reductions over a few columns (10 classes) are slow in NumPy's generic
reduction loop, so the row maximum runs column by column and the row sums are
a matrix-vector product with ones: together about 3x faster on 60000x10.
"""

from __future__ import annotations

import numpy as np

_COLUMN_LOOP_MAX = 32  # above this many columns numpy's own reduction is faster,
_COLUMN_LOOP_MIN_ROWS = 512  # and below this many rows (a minibatch): per-call overhead


def _row_max(z: np.ndarray) -> np.ndarray:
    """``z.max(axis=1, keepdims=True)``, faster for long narrow ``z`` (NaN propagates the same)."""
    if z.shape[1] > _COLUMN_LOOP_MAX or z.shape[0] < _COLUMN_LOOP_MIN_ROWS:
        return z.max(axis=1, keepdims=True)
    m = z[:, :1].copy()
    for j in range(1, z.shape[1]):
        np.maximum(m[:, 0], z[:, j], out=m[:, 0])
    return m


def _row_sums(z: np.ndarray) -> np.ndarray:
    return z @ np.ones(z.shape[1], dtype=z.dtype)


def logits_to_probs(z: np.ndarray) -> np.ndarray:
    """Softmax over rows, in place, stable (the row max is subtracted first)."""
    z -= _row_max(z)
    np.exp(z, out=z)
    z /= _row_sums(z)[:, None]
    return z


def softmax_cross_entropy_(z: np.ndarray, y: np.ndarray, rows: np.ndarray) -> float:
    """Turn logits ``z`` into probabilities in place; return the mean cross-entropy.

    Log-sum-exp stable: ``CE_i = log(sum_j exp(z_ij - m_i)) - (z_iy - m_i)``.
    """
    z -= _row_max(z)
    picked = z[rows, y]
    np.exp(z, out=z)
    sums = _row_sums(z)
    z /= sums[:, None]
    total = np.log(sums).sum(dtype=np.float64) - picked.sum(dtype=np.float64)
    return float(total) / z.shape[0]
