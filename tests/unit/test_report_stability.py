"""The protocol's stability rule on synthetic validation-loss histories."""

import numpy as np
import pandas as pd

from ablation.report.stability import STABLE_RISE, loss_rise


def _history(run_id, values):
    return pd.DataFrame({"run_id": run_id, "step": np.arange(len(values)) * 10, "value": values})


def test_smooth_decrease_is_stable_and_a_late_spike_is_not():
    smooth = np.linspace(2.3, 0.2, 31)
    spike = smooth.copy()
    spike[22] = 3 * smooth[21]  # step 220: three times the best so far, then it recovers
    early = smooth.copy()
    early[3] = 10.0  # a spike in the first half does not count
    rise = loss_rise(pd.concat([_history("a", smooth), _history("b", spike), _history("c", early)]))
    assert rise["a"] <= 1.0 < STABLE_RISE
    assert rise["b"] > STABLE_RISE
    assert rise["c"] <= 1.0


def test_running_minimum_includes_the_first_half():
    # best 0.1 at step 50; in the second half the loss sits at 0.2: twice the best
    values = np.r_[np.linspace(1.0, 0.1, 6), np.full(10, 0.2)]
    assert loss_rise(_history("r", values))["r"] == 2.0


def test_one_step_has_no_rise():
    assert np.isnan(loss_rise(_history("x", [1.0]))["x"])
