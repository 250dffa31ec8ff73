"""Weight and bias initialisers, looked up by name in ``INITS``.

Each initialiser is ``init(fan_in, fan_out, rng, dtype) -> (W, b)`` with
``W.shape == (fan_in, fan_out)`` and ``b.shape == (fan_out,)``, both of
``dtype``. Randomness comes only from the ``numpy.random.Generator`` passed
in; values are drawn directly in ``dtype`` (so a float32 and a float64 network
built from the same seed hold different, equally distributed numbers).

Draw order for a network: layer by layer from the input side, ``W`` before
``b``; only ``random`` draws biases.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .registry import lookup

Init = Callable[[int, int, np.random.Generator, np.dtype], tuple[np.ndarray, np.ndarray]]


def random_uniform(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> tuple:
    """The paper's init: weights AND biases uniform in [-0.5, 0.5) (``rand() - 0.5``)."""
    dtype = np.dtype(dtype)
    half = dtype.type(0.5)
    W = rng.random((fan_in, fan_out), dtype=dtype) - half  # exact: no rounding up to 0.5
    b = rng.random(fan_out, dtype=dtype) - half
    return W, b


def kaiming(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> tuple:
    """He et al. 2015: weights normal with std sqrt(2 / fan_in), zero biases."""
    dtype = np.dtype(dtype)
    W = rng.standard_normal((fan_in, fan_out), dtype=dtype)
    W *= dtype.type(np.sqrt(2.0 / fan_in))
    return W, np.zeros(fan_out, dtype=dtype)


def xavier(fan_in: int, fan_out: int, rng: np.random.Generator, dtype) -> tuple:
    """Glorot & Bengio 2010: weights uniform in [-l, l), l = sqrt(6 / (fan_in + fan_out))."""
    dtype = np.dtype(dtype)
    limit = dtype.type(np.sqrt(6.0 / (fan_in + fan_out)))
    W = rng.random((fan_in, fan_out), dtype=dtype)
    W *= dtype.type(2.0)
    W -= dtype.type(1.0)
    W *= limit
    return W, np.zeros(fan_out, dtype=dtype)


INITS: dict[str, Init] = {
    "random": random_uniform,
    "kaiming": kaiming,
    "xavier": xavier,
}


def get_init(name: str) -> Init:
    """Look up an initialiser by name; unknown names raise ``ValueError``."""
    return lookup(INITS, "init", name)
