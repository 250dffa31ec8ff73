"""Softmax and the fused softmax cross-entropy, in place and log-sum-exp stable."""

from __future__ import annotations

import numpy as np


def logits_to_probs(z: np.ndarray) -> np.ndarray:
    """Softmax over rows, in place, stable (the row max is subtracted first)."""
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


def softmax_cross_entropy_(z: np.ndarray, y: np.ndarray, rows: np.ndarray) -> float:
    """Turn logits ``z`` into probabilities in place; return the mean cross-entropy.

    Log-sum-exp stable: ``CE_i = log(sum_j exp(z_ij - m_i)) - (z_iy - m_i)``.
    """
    z -= z.max(axis=1, keepdims=True)
    picked = z[rows, y]
    np.exp(z, out=z)
    sums = z.sum(axis=1)
    z /= sums[:, None]
    return float(np.mean(np.log(sums), dtype=np.float64) - np.mean(picked, dtype=np.float64))
