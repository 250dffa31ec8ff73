"""Analytic gradients of MLP.loss_and_grads against central finite differences (float64)."""

import numpy as np
import pytest

from ablation.nn import ACTIVATIONS, MLP, mlp

H = 1e-4
TOL = 1e-6


def numerical_grads(net: MLP, X, y, l2: float):
    """Five-point central differences of the loss for every parameter, one at a time.

    (8 (f(+h) - f(-h)) - (f(+2h) - f(-2h))) / 12h has truncation error O(h^4), so with
    h = 1e-4 the result is limited by rounding alone (~1e-12 absolute in float64).
    """

    def loss_at(p, i, value):
        p[i] = value
        return net.loss_and_grads(X, y, l2=l2)[0]

    grads = []
    for W, b in net.params:
        pair = []
        for p in (W, b):
            g = np.zeros_like(p)
            for i in np.ndindex(p.shape):
                x = p[i]
                d1 = loss_at(p, i, x + H) - loss_at(p, i, x - H)
                d2 = loss_at(p, i, x + 2 * H) - loss_at(p, i, x - 2 * H)
                p[i] = x
                g[i] = (8 * d1 - d2) / (12 * H)
            pair.append(g)
        grads.append(tuple(pair))
    return grads


def max_relative_error(analytic, numeric) -> float:
    """max |a - n| / max(|a|, |n|), with a floor of 1e-4 for entries that are ~0 in both.

    The floor makes it an absolute 1e-10 bound for near-zero entries (dead ReLU
    units, saturated sigmoids), where a relative error is meaningless.
    """
    worst = 0.0
    for pair_a, pair_n in zip(analytic, numeric, strict=True):
        for a, n in zip(pair_a, pair_n, strict=True):
            denom = np.maximum(np.maximum(np.abs(a), np.abs(n)), 1e-4)
            worst = max(worst, float(np.max(np.abs(a - n) / denom)))
    return worst


SIZES = {1: [5, 4, 3], 2: [5, 4, 4, 3], 3: [5, 4, 4, 4, 3]}


@pytest.mark.parametrize("l2", [0.0, 0.1])
@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_gradients_match_finite_differences(activation, depth, l2):
    sizes = SIZES[depth]
    # "random" init: non-zero biases, so the bias gradients are exercised with real values
    net = MLP(sizes, [activation] * depth, init="random", seed=depth, dtype="float64")
    rng = np.random.default_rng(100 + depth)
    X = rng.normal(size=(7, sizes[0]))
    y = rng.integers(0, sizes[-1], size=7)

    _, analytic = net.loss_and_grads(X, y, l2=l2)
    numeric = numerical_grads(net, X, y, l2)

    assert max_relative_error(analytic, numeric) < TOL
    # the check can fail: a visibly wrong gradient is caught
    broken = [(dW * 1.01, db) for dW, db in analytic]
    assert max_relative_error(broken, numeric) > TOL


def test_mixed_activations_paper_shape_small():
    net = MLP([6, 5, 4, 3], ["leaky_relu", "tanh"], init="kaiming", seed=3, dtype="float64")
    rng = np.random.default_rng(7)
    X = rng.random((9, 6))
    y = rng.integers(0, 3, size=9)
    _, analytic = net.loss_and_grads(X, y, l2=0.05)
    assert max_relative_error(analytic, numerical_grads(net, X, y, 0.05)) < TOL


def test_l2_penalty_is_on_weights_only():
    net = MLP([4, 3, 2], ["tanh"], init="random", seed=0, dtype="float64")
    X = np.random.default_rng(1).random((5, 4))
    y = np.array([0, 1, 1, 0, 1])
    loss0, g0 = net.loss_and_grads(X, y, l2=0.0)
    loss1, g1 = net.loss_and_grads(X, y, l2=0.3)
    expected_penalty = 0.15 * sum(float(np.sum(W**2)) for W, _ in net.params)
    assert loss1 - loss0 == pytest.approx(expected_penalty, rel=1e-12)
    for (W, _), (dW0, db0), (dW1, db1) in zip(net.params, g0, g1, strict=True):
        np.testing.assert_allclose(dW1 - dW0, 0.3 * W, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(db1, db0)


@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_gradients_summed_over_row_blocks_match_finite_differences(monkeypatch, l2):
    # 11 rows in blocks of at most 3 (4 blocks, the last one shorter): the blocked path
    # that full-batch training takes on more than BLOCK_ROWS rows
    monkeypatch.setattr(mlp, "BLOCK_ROWS", 3)
    net = MLP([5, 4, 4, 3], ["leaky_relu", "tanh"], init="random", seed=3, dtype="float64")
    rng = np.random.default_rng(7)
    X, y = rng.normal(size=(11, 5)), rng.integers(0, 3, size=11)

    loss, analytic = net.loss_and_grads(X, y, l2=l2)
    numeric = numerical_grads(net, X, y, l2)

    assert max_relative_error(analytic, numeric) < TOL
    monkeypatch.setattr(mlp, "BLOCK_ROWS", 1000)
    one_block_loss, one_block = net.loss_and_grads(X, y, l2=l2)
    assert loss == pytest.approx(one_block_loss, rel=1e-13)
    assert max_relative_error(analytic, one_block) < 1e-12
