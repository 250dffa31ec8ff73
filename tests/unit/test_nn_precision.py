"""float32 (the fast default) trains like float64 (the reference) on the paper's network."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits

from ablation.nn import MLP, fit, make_optimizer, mlp


@pytest.mark.parametrize("blocks", ["one block", "blocks on 2 threads"])
def test_float32_run_matches_float64_to_1e4_in_loss(blocks, monkeypatch):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    threads = 1
    if blocks != "one block":  # the full-batch path of the app: 8 blocks, 2 threads
        monkeypatch.setattr(mlp, "BLOCK_ROWS", 256)
        threads = 2
    shape = ([64, 200, 20, 10], ["leaky_relu", "tanh"])
    ref = MLP(*shape, init="kaiming", seed=3, dtype="float64", threads=threads)
    fast = MLP(*shape, init="kaiming", seed=3, dtype="float32", threads=threads)
    for (W32, b32), (W64, b64) in zip(fast.params, ref.params, strict=True):
        W32[...] = W64  # same starting point, rounded to float32
        b32[...] = b64
    with threadpool_limits(limits=1 if threads > 1 else None):
        runs = [
            fit(net, make_optimizer("gd", lr=0.5), X, y, iterations=20, l2=1e-3, eval_every=1)
            for net in (ref, fast)
        ]
    loss64, loss32 = (np.array(h.metrics["train/loss"]) for h in runs)
    assert loss64[-1] < loss64[0] - 0.5  # it did train
    np.testing.assert_allclose(loss32, loss64, rtol=0, atol=1e-4)
    assert all(p.dtype == np.float32 for pair in fast.params for p in pair)
