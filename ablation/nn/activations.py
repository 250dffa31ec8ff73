"""Hidden-layer activations, looked up by name in ``ACTIVATIONS``.

Each activation is one in-place function working on whole batches:

``forward(z, grad=None)``
    overwrite the pre-activation ``z`` with ``f(z)`` and return it. If
    ``grad`` is given (an array shaped like ``z``; the network passes the
    layer's error buffer while training), also write ``f'(z)`` into it.

The backward pass is then one multiplication, ``delta *= grad``. Computing the
derivative in the forward pass, while ``z`` is at hand, is cheaper than
recovering it from the output later: LeakyReLU's forward becomes "mask, then
multiply" (the mask *is* the derivative), which takes the step's elementwise
work on the 60000x200 layer from 6 passes to 4.

Everything stays in the dtype of the arrays passed in. Branch-free
formulations are used on purpose: ``np.where`` and ``where=`` masks are
several times slower on random signs.

Adding an activation is one function and one registry line. The output layer
is always softmax (fused with the cross-entropy in ``mlp.py``) and is not an
entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .registry import lookup

LEAKY_SLOPE = 0.01


@dataclass(frozen=True)
class Activation:
    """A named elementwise nonlinearity that can also emit its derivative (in place)."""

    name: str
    forward: Callable[..., np.ndarray]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        """Out-of-place convenience: return ``f(z)`` without touching ``z``."""
        return self.forward(np.array(z, copy=True))

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """Out-of-place convenience: return ``f'(z)`` elementwise."""
        z = np.array(z, copy=True)
        grad = np.empty_like(z)
        self.forward(z, grad)
        return grad


def _leaky_relu(z: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
    # f(z) = z * f'(z) with f'(z) = 1 where z >= 0, else the slope.
    if grad is None:
        grad = np.empty_like(z)
    slope = z.dtype.type(LEAKY_SLOPE)
    np.greater_equal(z, 0, out=grad)  # 1.0 or 0.0
    # 1.0 -> (1 - slope) + slope == 1 and 0.0 -> slope, both exact; two plain passes
    # are twice as fast as np.maximum(grad, slope) (NaN-propagating, with a scalar)
    np.multiply(grad, 1 - slope, out=grad)
    np.add(grad, slope, out=grad)
    return np.multiply(z, grad, out=z)


def _relu(z: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
    if grad is not None:
        np.greater(z, 0, out=grad)
    return np.maximum(z, 0, out=z)


def _tanh(z: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
    np.tanh(z, out=z)
    if grad is not None:
        np.square(z, out=grad)
        np.subtract(1, grad, out=grad)  # 1 - tanh^2
    return z


def _sigmoid(z: np.ndarray, grad: np.ndarray | None = None) -> np.ndarray:
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: no overflow for large |z|, no temporaries.
    np.multiply(z, 0.5, out=z)
    np.tanh(z, out=z)
    np.add(z, 1, out=z)
    np.multiply(z, 0.5, out=z)
    if grad is not None:
        np.subtract(1, z, out=grad)
        np.multiply(grad, z, out=grad)  # a * (1 - a)
    return z


ACTIVATIONS: dict[str, Activation] = {
    "leaky_relu": Activation("leaky_relu", _leaky_relu),
    "tanh": Activation("tanh", _tanh),
    "sigmoid": Activation("sigmoid", _sigmoid),
    "relu": Activation("relu", _relu),
}


def get_activation(name: str) -> Activation:
    """Look up an activation by name; unknown names raise ``ValueError``."""
    return lookup(ACTIVATIONS, "activation", name)
