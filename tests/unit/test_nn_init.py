"""Initialiser statistics and reproducibility."""

import numpy as np
import pytest

from ablation.nn import INITS, MLP, fit, make_optimizer


def test_registry_names():
    assert set(INITS) == {"random", "kaiming", "xavier"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_kaiming_std_and_zero_biases(dtype):
    W, b = INITS["kaiming"](784, 200, np.random.default_rng(0), np.dtype(dtype))
    assert W.shape == (784, 200) and b.shape == (200,)
    assert W.dtype == dtype and b.dtype == dtype
    expected = np.sqrt(2 / 784)
    assert abs(W.std() - expected) / expected < 0.03
    assert abs(W.mean()) < 3 * expected / np.sqrt(W.size)  # mean 0 within 3 standard errors
    assert not b.any()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_random_is_uniform_half_open_for_weights_and_biases(dtype):
    W, b = INITS["random"](784, 200, np.random.default_rng(1), np.dtype(dtype))
    for p in (W, b):
        assert p.dtype == dtype
        assert p.min() >= -0.5 and p.max() < 0.5
    # U[-0.5, 0.5): mean 0, std 1/sqrt(12)
    assert abs(W.mean()) < 0.01
    assert abs(W.std() - 1 / np.sqrt(12)) < 0.01
    assert abs(b.mean()) < 0.1 and b.std() > 0.2  # biases are random too (200 draws)


def test_xavier_within_limit_and_spread():
    W, b = INITS["xavier"](784, 200, np.random.default_rng(2), np.dtype("float32"))
    limit = np.sqrt(6 / (784 + 200))
    assert np.abs(W).max() <= limit
    assert abs(W.std() - limit / np.sqrt(3)) / (limit / np.sqrt(3)) < 0.03
    assert not b.any()


def test_kaiming_uses_each_layers_own_fan_in():
    net = MLP([784, 200, 20, 10], ["leaky_relu", "tanh"], init="kaiming", seed=0)
    for W, _ in net.params[:2]:  # the last layer has too few weights for a tight estimate
        fan_in = W.shape[0]
        assert abs(W.std() - np.sqrt(2 / fan_in)) / np.sqrt(2 / fan_in) < 0.05


def test_same_seed_same_weights_different_seed_different():
    a = MLP([20, 8, 3], ["tanh"], init="random", seed=5)
    b = MLP([20, 8, 3], ["tanh"], init="random", seed=5)
    c = MLP([20, 8, 3], ["tanh"], init="random", seed=6)
    for (Wa, ba), (Wb, bb) in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(Wa, Wb)
        np.testing.assert_array_equal(ba, bb)
    assert not np.array_equal(a.params[0][0], c.params[0][0])


def test_generator_is_accepted_and_global_state_untouched():
    # the legacy global state is read here only to prove the library never draws from it
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    net = MLP([6, 4, 2], ["relu"], init="xavier", seed=np.random.default_rng(9))
    X = np.random.default_rng(0).random((20, 6))
    fit(net, make_optimizer("sgd", lr=0.1), X, np.arange(20) % 2, epochs=2, batch_size=8)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002
    again = MLP([6, 4, 2], ["relu"], init="xavier", seed=np.random.default_rng(9))
    first = MLP([6, 4, 2], ["relu"], init="xavier", seed=np.random.default_rng(9))
    np.testing.assert_array_equal(first.params[0][0], again.params[0][0])


def test_unknown_init_names_the_choices():
    with pytest.raises(
        ValueError, match=r"unknown init 'kaimng'; choose one of: random, kaiming, xavier"
    ):
        MLP([4, 3, 2], ["tanh"], init="kaimng")
