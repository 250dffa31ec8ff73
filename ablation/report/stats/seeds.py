"""Seeds that failed to train: a stated rule on a cell's final test accuracies."""

from __future__ import annotations

import numpy as np
from scipy import stats as sps

MAD_LIMIT = 3.0  # scaled MADs below the cell's median
MIN_DROP = 5.0  # points below the cell's median, so tight cells do not flag 0.1-point gaps
MIN_SEEDS_TO_FLAG = 3

FAILED_TO_TRAIN_RULE = (
    "A seed failed to train when its final test accuracy is more than 3 scaled MADs "
    "(1.4826 × median absolute deviation) and more than 5 points below its cell's median; "
    "only cells with at least 3 finished seeds are checked."
)


def failed_to_train(values, mad_limit: float = MAD_LIMIT, min_drop: float = MIN_DROP) -> np.ndarray:
    """Boolean mask: which of ``values`` (one cell's final test accuracies, %) failed to train.

    A value is flagged when it is both more than ``mad_limit`` scaled MADs
    (``scipy.stats.median_abs_deviation(scale="normal")``) and more than ``min_drop`` points
    below the median of all values. Cells with fewer than MIN_SEEDS_TO_FLAG values, and NaNs,
    are never flagged. Only low values count: a seed that trains better is not a failure.
    """
    x = np.asarray(values, dtype=float).ravel()
    flags = np.zeros(x.shape, dtype=bool)
    ok = ~np.isnan(x)
    if ok.sum() < MIN_SEEDS_TO_FLAG:
        return flags
    median = float(np.median(x[ok]))
    mad = float(sps.median_abs_deviation(x[ok], scale="normal"))
    drop = median - x
    flags[ok] = (drop[ok] > mad_limit * mad) & (drop[ok] > min_drop)
    return flags
