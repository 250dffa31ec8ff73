"""Hidden activations: values, derivatives, in-place contract, dtype."""

import numpy as np
import pytest

from ablation.nn import ACTIVATIONS, MLP

Z = np.array([-3.0, -0.5, -1e-3, 0.0, 1e-3, 0.7, 4.0])

REFERENCE = {
    "leaky_relu": (lambda z: np.where(z >= 0, z, 0.01 * z), lambda z: np.where(z >= 0, 1.0, 0.01)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "sigmoid": (
        lambda z: 1 / (1 + np.exp(-z)),
        lambda z: np.exp(-z) / (1 + np.exp(-z)) ** 2,
    ),
}


def test_registry_has_the_four_documented_names():
    assert set(ACTIVATIONS) == {"leaky_relu", "tanh", "sigmoid", "relu"}
    assert set(REFERENCE) == set(ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_values_and_derivatives_match_reference(name):
    act = ACTIVATIONS[name]
    f, df = REFERENCE[name]
    np.testing.assert_allclose(act(Z), f(Z), rtol=1e-12, atol=1e-15)
    # the derivative at z = 0 follows the paper's convention for leaky_relu (1) and 0 for relu
    np.testing.assert_allclose(act.derivative(Z), df(Z), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_finite_differences_away_from_kinks(name):
    act = ACTIVATIONS[name]
    z = np.linspace(-4, 4, 41) + 0.013  # never exactly at 0
    h = 1e-6
    numeric = (act(z + h) - act(z - h)) / (2 * h)
    np.testing.assert_allclose(act.derivative(z), numeric, rtol=1e-6, atol=1e-9)


def test_leaky_relu_slope_is_0_01():
    assert ACTIVATIONS["leaky_relu"](np.array([-2.0]))[0] == pytest.approx(-0.02)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_works_in_place_keeps_float32_and_can_emit_the_derivative(name):
    act = ACTIVATIONS[name]
    f, df = REFERENCE[name]
    z = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    z64 = z.astype(np.float64)
    a = act.forward(z.copy())
    assert a.dtype == np.float32
    np.testing.assert_allclose(a, f(z64), rtol=1e-6, atol=1e-7)
    grad = np.full_like(z, np.nan)
    a2 = act.forward(z, grad)
    assert a2 is z and grad.dtype == np.float32
    np.testing.assert_array_equal(a2, a)  # emitting the derivative does not change f(z)
    np.testing.assert_allclose(grad, df(z64), rtol=1e-6, atol=1e-7)


def test_sigmoid_does_not_overflow_for_large_inputs():
    with np.errstate(all="raise"):
        out = ACTIVATIONS["sigmoid"](np.array([-1000.0, 1000.0], dtype=np.float32))
    np.testing.assert_array_equal(out, [0.0, 1.0])


def test_unknown_activation_names_the_choices():
    with pytest.raises(
        ValueError, match=r"unknown activation 'lrelu'; choose one of: .*leaky_relu"
    ):
        MLP([4, 3, 2], ["lrelu"])
