"""Hidden-layer activations, looked up by name in ``ACTIVATIONS``.

Each activation is a pair of in-place functions working on whole batches:

``forward(z, scratch=None)``
    overwrite the pre-activation ``z`` with ``f(z)`` and return it. ``scratch``,
    if given, is a free array shaped like ``z`` that may be used instead of a
    temporary (the network passes the layer's error buffer while training).
``backward(a, delta)``
    given ``a = f(z)`` (the forward output), multiply ``delta`` in place by
    ``f'(z)`` and return it. ``a`` is used as scratch and is overwritten: by
    the time the backward pass reaches a layer, its output is no longer needed,
    so this saves a large temporary per layer and step.

The derivative is expressed through the output ``a`` (as scikit-learn does),
so the network stores only post-activations. Everything stays in the dtype of
the arrays passed in. Branch-free formulations are used on purpose:
``np.where`` and ``where=`` masks are several times slower on random signs.

Adding an activation is one pair of functions and one registry line. The
output layer is always softmax (fused with the cross-entropy in ``mlp.py``)
and is not an entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """A named elementwise nonlinearity with its derivative (both in place)."""

    name: str
    forward: Callable[..., np.ndarray]
    backward: Callable[[np.ndarray, np.ndarray], np.ndarray]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Out-of-place convenience: return ``f(z)`` without touching ``z``."""
        return self.forward(np.array(z, copy=True))

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """Out-of-place convenience: return ``f'(z)`` elementwise."""
        a = self(z)
        return self.backward(a, np.ones_like(a))


def _leaky_relu(z: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    slope_z = np.multiply(z, z.dtype.type(LEAKY_SLOPE), out=scratch)
    return np.maximum(z, slope_z, out=z)


def _leaky_relu_backward(a: np.ndarray, delta: np.ndarray) -> np.ndarray:
    # f'(z) = 1 where z >= 0 else slope; a >= 0 exactly when z >= 0 (slope > 0).
    np.greater_equal(a, 0, out=a)  # a := 1.0 or 0.0
    np.maximum(a, a.dtype.type(LEAKY_SLOPE), out=a)  # a := 1.0 or slope
    return np.multiply(delta, a, out=delta)


def _relu(z: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    return np.maximum(z, 0, out=z)


def _relu_backward(a: np.ndarray, delta: np.ndarray) -> np.ndarray:
    np.greater(a, 0, out=a)
    return np.multiply(delta, a, out=delta)


def _tanh(z: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(z, out=z)


def _tanh_backward(a: np.ndarray, delta: np.ndarray) -> np.ndarray:
    np.square(a, out=a)
    np.subtract(1, a, out=a)  # 1 - tanh^2
    return np.multiply(delta, a, out=delta)


def _sigmoid(z: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: no overflow for large |z|, no temporaries.
    np.multiply(z, 0.5, out=z)
    np.tanh(z, out=z)
    np.add(z, 1, out=z)
    return np.multiply(z, 0.5, out=z)


def _sigmoid_backward(a: np.ndarray, delta: np.ndarray) -> np.ndarray:
    np.multiply(delta, a, out=delta)
    np.subtract(1, a, out=a)
    return np.multiply(delta, a, out=delta)  # delta * a * (1 - a)


ACTIVATIONS: dict[str, Activation] = {
    "leaky_relu": Activation("leaky_relu", _leaky_relu, _leaky_relu_backward),
    "tanh": Activation("tanh", _tanh, _tanh_backward),
    "sigmoid": Activation("sigmoid", _sigmoid, _sigmoid_backward),
    "relu": Activation("relu", _relu, _relu_backward),
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name; unknown names raise ``ValueError``."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        choices = ", ".join(ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; choose one of: {choices}") from None
