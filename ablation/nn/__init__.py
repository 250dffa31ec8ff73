"""Pure-NumPy numeric core: an MLP with softmax output, optimisers and a training loop.

Usable on its own (no config system, no tracking)::

    from ablation.nn import MLP, fit, make_optimizer

    net = MLP([784, 200, 20, 10], ["leaky_relu", "tanh"], init="kaiming", seed=0)
    history = fit(net, make_optimizer("gd", lr=0.1), X, y, iterations=500,
                  X_test=X_test, y_test=y_test, eval_every=10)
    history.final  # {"train/loss": ..., "train/acc": ..., "test/loss": ..., "test/acc": ...}

Components are chosen by name from the registries ``ACTIVATIONS``, ``INITS`` and
``OPTIMIZERS``; adding one is a function (or class) and a registry line.
"""

from .activations import ACTIVATIONS, Activation
from .checks import DTYPES
from .init import INITS
from .mlp import MLP
from .optim import OPTIMIZERS, Optimizer, make_optimizer
from .train import DivergedError, FitOptions, History, fit

__all__ = [
    "ACTIVATIONS",
    "DTYPES",
    "INITS",
    "MLP",
    "OPTIMIZERS",
    "Activation",
    "DivergedError",
    "FitOptions",
    "History",
    "Optimizer",
    "fit",
    "make_optimizer",
]
