"""Optimisers, looked up by name in ``OPTIMIZERS`` and built with ``make_optimizer``.

Every optimiser has ``step(params, grads)``, which updates the arrays in
``params`` (a list of ``(W, b)``) in place from ``grads`` (same structure).
State buffers are created on the first step, in the dtype of each parameter,
and belong to one network: use a fresh optimiser per network. Each optimiser
also keeps one scratch array per parameter so that a step allocates nothing
(large per-step temporaries cost more than the arithmetic at batch 128).

- ``gd``: ``p -= lr * g``. The paper's full-batch gradient descent (``full_batch``).
- ``sgd``: the same update, named for use with minibatches.
- ``momentum``: classical (Polyak) momentum, ``v = mu * v - lr * g; p += v``.
- ``adam``: Kingma & Ba 2015 with bias correction (as in PyTorch, eps outside
  the square root): ``p -= lr * m_hat / (sqrt(v_hat) + eps)``.
"""

from __future__ import annotations

import numpy as np

from .checks import check_lr, check_unit_interval
from .registry import lookup


class Optimizer:
    """Base class: holds the learning rate and the registry name."""

    name = "base"
    options: tuple[str, ...] = ()
    #: takes full-batch steps (``optim.iterations``) rather than minibatch epochs; the
    #: config, the sweep's estimates and the report's budget read it here
    full_batch: bool = False

    def __init__(self, lr: float):
        self.lr = check_lr(lr)
        self.t = 0  # steps taken
        self._scratch: list[np.ndarray] | None = None

    def step(self, params, grads) -> None:
        raise NotImplementedError

    def _flat(self, params, grads):
        """``(p, g, scratch)`` triples, creating the scratch arrays on first use."""
        flat_p = [p for pair in params for p in pair]
        flat_g = [g for pair in grads for g in pair]
        if self._scratch is None:
            self._scratch = [np.empty_like(p) for p in flat_p]
        return zip(flat_p, flat_g, self._scratch, strict=True)

    def __repr__(self) -> str:
        opts = "".join(f", {k}={getattr(self, k)!r}" for k in self.options)
        return f"{type(self).__name__}(lr={self.lr!r}{opts})"


class GD(Optimizer):
    """Plain gradient descent: ``p -= lr * g``."""

    name = "gd"
    full_batch = True

    def step(self, params, grads) -> None:
        self.t += 1
        for p, g, tmp in self._flat(params, grads):
            np.multiply(g, p.dtype.type(self.lr), out=tmp)
            p -= tmp


class SGD(GD):
    """Same update as ``GD``; the name marks minibatch use."""

    name = "sgd"
    full_batch = False


class Momentum(Optimizer):
    """Classical momentum: ``v = momentum * v - lr * g; p += v``."""

    name = "momentum"
    options = ("momentum",)

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__(lr)
        self.momentum = check_unit_interval("momentum", momentum)
        self.velocity: list[np.ndarray] | None = None

    def step(self, params, grads) -> None:
        if self.velocity is None:
            self.velocity = [np.zeros_like(p) for pair in params for p in pair]
        self.t += 1
        for (p, g, tmp), v in zip(self._flat(params, grads), self.velocity, strict=True):
            f = p.dtype.type
            v *= f(self.momentum)
            v -= np.multiply(g, f(self.lr), out=tmp)
            p += v


class Adam(Optimizer):
    """Adam with bias correction."""

    name = "adam"
    options = ("beta1", "beta2", "eps")

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        self.beta1 = check_unit_interval("beta1", beta1)
        self.beta2 = check_unit_interval("beta2", beta2)
        self.eps = float(eps)
        if not self.eps > 0:
            raise ValueError(f"eps must be > 0, got {eps!r}")
        self.m: list[np.ndarray] | None = None
        self.v: list[np.ndarray] | None = None

    def step(self, params, grads) -> None:
        if self.m is None:
            self.m = [np.zeros_like(p) for pair in params for p in pair]
            self.v = [np.zeros_like(p) for pair in params for p in pair]
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = self.lr / (1.0 - b1**self.t)
        v_scale = 1.0 / np.sqrt(1.0 - b2**self.t)  # sqrt(v_hat) = sqrt(v) * v_scale
        triples = self._flat(params, grads)
        for (p, g, tmp), m, v in zip(triples, self.m, self.v, strict=True):
            f = p.dtype.type
            m *= f(b1)
            m += np.multiply(g, f(1.0 - b1), out=tmp)
            v *= f(b2)
            np.square(g, out=tmp)
            v += np.multiply(tmp, f(1.0 - b2), out=tmp)
            np.sqrt(v, out=tmp)  # tmp := sqrt(v_hat) + eps, then the step
            tmp *= f(v_scale)
            tmp += f(self.eps)
            np.divide(m, tmp, out=tmp)
            tmp *= f(step_size)
            p -= tmp


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": GD,
    "sgd": SGD,
    "momentum": Momentum,
    "adam": Adam,
}


def make_optimizer(name: str, lr: float, **kwargs) -> Optimizer:
    """Build an optimiser by registry name, e.g. ``make_optimizer("adam", 1e-3, beta2=0.99)``.

    Unknown names and unknown options raise ``ValueError`` listing the valid ones.
    """
    cls = lookup(OPTIMIZERS, "optimizer", name)
    unknown = sorted(set(kwargs) - set(cls.options))
    if unknown:
        valid = ", ".join(cls.options) if cls.options else "none (only lr)"
        raise ValueError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for optimizer {name!r}; "
            f"valid options: {valid}"
        )
    return cls(lr, **kwargs)
