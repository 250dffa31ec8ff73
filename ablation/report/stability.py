"""Did a run train stably? The protocol's rule, from a run's validation-loss history.

Stable = in the last half of training, the loss never rises above ``STABLE_RISE`` times
its running minimum (the lowest value logged so far, earlier steps included). A run that
diverged or oscillates at the edge of stability breaks it; a run that only slows down
does not. The rule is stated in ``sweeps/protocol.yaml`` and README "Protocol".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: a loss more than this many times its running minimum, in the last half, is unstable
STABLE_RISE = 1.5


def loss_rise(history: pd.DataFrame) -> pd.Series:
    """Per run: the largest ``loss / running minimum`` over the last half of its steps.

    ``history`` has columns run_id, step, value (one metric). 1.0 means the loss never
    rose above its best so far; a run with fewer than two logged steps gets NaN.
    """
    out = {}
    for run_id, g in history.groupby("run_id", sort=False):
        g = g.sort_values("step")
        steps, values = g["step"].to_numpy(), g["value"].to_numpy(dtype=float)
        if len(values) < 2:
            out[run_id] = np.nan
            continue
        best_before = np.minimum.accumulate(values)[:-1]  # the minimum before each step
        late = steps[1:] >= steps.max() / 2
        ratios = values[1:][late] / best_before[late]
        out[run_id] = float(np.nanmax(ratios)) if ratios.size else np.nan
    return pd.Series(out, dtype=float)
