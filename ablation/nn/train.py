"""The training loop: full-batch gradient descent (the paper's) or shuffled minibatches.

``fit`` returns a ``History`` of evaluation points. What a *step* means there:
the number of passes over the training set completed so far. In full-batch
mode (``iterations=N``) one pass is one parameter update, so steps are
iterations; in minibatch mode (``epochs=E``) steps are epochs.

Evaluation schedule (``eval_every = k``):

- step 0, the initial model, before any update;
- then steps k, 2k, 3k, ... below the last one;
- and always the last step (``iterations`` or ``epochs``), after the last update.

In full-batch mode the training loss and accuracy at step t come for free from
the forward pass that computes the gradient at step t; only the final step
needs one extra forward pass over the training set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace

import numpy as np

from .checks import check_l2, check_nonnegative, check_positive_int, check_weight_decay
from .mlp import MLP
from .optim import Optimizer
from .rules import decay_is_valid

Callback = Callable[[int, dict[str, float]], None]
Progress = Callable[[int, int, float], None]


class DivergedError(RuntimeError):
    """Loss or a parameter became NaN/inf.

    ``iteration`` counts parameter updates (minibatch steps in epoch mode) done
    before the problem showed; ``loss`` is the objective (cross-entropy + L2)
    of the last forward pass; ``history`` (set by ``fit``) holds the
    evaluation points recorded before the divergence.
    """

    def __init__(self, iteration: int, loss: float, detail: str = ""):
        self.iteration = iteration
        self.loss = loss
        self.detail = detail
        self.history: History | None = None
        where = f" ({detail})" if detail else ""
        super().__init__(
            f"training diverged at iteration {iteration}: loss = {loss:.6g}{where}; "
            f"lower the learning rate (or use a smaller init or a stronger l2)"
        )

    def __reduce__(self):  # picklable across processes (joblib / ray launchers)
        return (type(self), (self.iteration, self.loss, self.detail))


@dataclass
class History:
    """Evaluation points of one ``fit``.

    ``steps[i]`` is the step of the i-th evaluation and ``metrics[key][i]`` its
    value, for keys ``train/loss``, ``train/acc`` and, when the data were given,
    ``test/loss``, ``test/acc``, ``val/loss``, ``val/acc``. Losses are mean
    cross-entropy without the L2 term (comparable across splits and across
    regularisation settings); accuracies are fractions in [0, 1].
    """

    steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    updates: int = 0  # parameter updates performed
    seconds: float = 0.0  # wall time of the whole fit, evaluation included

    @property
    def final(self) -> dict[str, float]:
        """The metrics of the last evaluation point (after the last update)."""
        return {key: values[-1] for key, values in self.metrics.items()}

    def record(self, step: int, metrics: dict[str, float]) -> None:
        self.steps.append(step)
        for key, value in metrics.items():
            self.metrics.setdefault(key, []).append(value)

    def __len__(self) -> int:
        return len(self.steps)


@dataclass(frozen=True)
class FitOptions:
    """How long and how ``fit`` trains; see ``fit`` for each field.

    ``fit(net, opt, X, y, FitOptions(iterations=300, l2=1e-3))`` and
    ``fit(net, opt, X, y, iterations=300, l2=1e-3)`` are the same call.
    """

    iterations: int | None = None  # full-batch steps over all of X
    epochs: int | None = None  # or: passes in shuffled minibatches of batch_size
    batch_size: int | None = None
    l2: float = 0.0
    weight_decay: float = 0.0  # decoupled: W *= 1 - lr * weight_decay before each update
    eval_every: int = 1
    seed: int = 0  # shuffling only
    max_loss: float | None = None


_OPTION_NAMES = frozenset(f.name for f in fields(FitOptions))


def fit(
    net: MLP,
    optimizer: Optimizer,
    X,
    y,
    options: FitOptions | None = None,
    *,
    X_test=None,
    y_test=None,
    X_val=None,
    y_val=None,
    callback: Callback | None = None,
    progress: Progress | None = None,
    **settings,
) -> History:
    """Train ``net`` in place with ``optimizer``; return the ``History``.

    The settings are a ``FitOptions`` or its fields as keywords (``iterations=300``).
    Give exactly one of ``iterations`` (full-batch steps over all of ``X``,
    the paper's gradient descent) or ``epochs`` (passes in shuffled
    minibatches of ``batch_size``; ``None`` means the full set, unshuffled;
    the last batch of an epoch may be smaller). Shuffling uses
    ``np.random.default_rng(seed)``; nothing else here is random.

    ``callback(step, metrics)`` is called at every evaluation point (see the
    module docstring for the schedule and the keys). ``progress(update,
    total_updates, loss)`` is called after every parameter update with the
    objective of the batch just used; it is meant for a progress bar, e.g.
    ``bar = tqdm(total=n); progress=lambda i, n, loss: bar.update()``.

    Raises ``DivergedError`` as soon as the loss or any parameter is NaN/inf
    (numpy's overflow warnings are silenced inside the loop for that reason),
    or, if ``max_loss`` is given, as soon as the objective exceeds it. The
    second test matters for nets whose loss explodes without overflowing
    (a tanh layer before the output keeps everything finite: the paper's net at
    lr=1e3 reaches a loss of ~1e4 in 5 steps and never becomes NaN).
    """
    unknown = sorted(set(settings) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"fit() got unexpected keyword argument(s): {', '.join(unknown)}")
    if options is not None and not isinstance(options, FitOptions):
        raise ValueError(f"options must be a FitOptions, got {options!r}")
    if options is not None and settings:
        raise ValueError("give a FitOptions or keyword settings, not both")
    o = replace(FitOptions(), **settings) if options is None else options
    iterations, epochs, batch_size = o.iterations, o.epochs, o.batch_size
    l2, eval_every, seed, max_loss = o.l2, o.eval_every, o.seed, o.max_loss
    X, y = net.check_data(X, y)
    l2 = check_l2(l2)
    weight_decay = check_weight_decay(o.weight_decay)
    splits = [("train", X, y)]
    for name, Xs, ys in (("test", X_test, y_test), ("val", X_val, y_val)):
        if (Xs is None) != (ys is None):
            raise ValueError(f"give both X_{name} and y_{name}, or neither")
        if Xs is not None:
            splits.append((name, *net.check_data(Xs, ys)))
    if (iterations is None) == (epochs is None):
        raise ValueError(
            "give exactly one of iterations= (full-batch gradient steps) or epochs= "
            f"(minibatch passes); got iterations={iterations!r}, epochs={epochs!r}"
        )
    if not hasattr(optimizer, "step"):
        raise ValueError(
            f"optimizer must be an optimizer object, got {optimizer!r}; "
            "build one with make_optimizer(name, lr)"
        )
    if iterations is not None:
        iterations = check_positive_int("iterations", iterations)
        if batch_size is not None:
            raise ValueError(
                f"batch_size={batch_size!r} applies only with epochs=; iterations= always "
                "uses the full training set"
            )
    else:
        epochs = check_positive_int("epochs", epochs)
        n = X.shape[0]
        batch_size = n if batch_size is None else check_positive_int("batch_size", batch_size)
        batch_size = min(batch_size, n)
    eval_every = check_positive_int("eval_every", eval_every)
    limit = np.inf if max_loss is None else check_nonnegative("max_loss", max_loss)
    for name, fn in (("callback", callback), ("progress", progress)):
        if fn is not None and not callable(fn):
            raise ValueError(f"{name} must be callable or None, got {fn!r}")

    decay = 1.0 - float(getattr(optimizer, "lr", 0.0)) * weight_decay
    if not decay_is_valid(getattr(optimizer, "lr", 0.0), weight_decay):
        raise ValueError(
            f"weight_decay={weight_decay!r} times lr={optimizer.lr!r} must be below 1 "
            "(each update multiplies the weights by 1 - lr * weight_decay); lower it"
        )
    loop = _Loop(net, optimizer, splits, l2, limit, callback, progress, decay)
    try:
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            if iterations is not None:
                loop.full_batch(iterations, eval_every)
            else:
                loop.minibatch(epochs, batch_size, eval_every, np.random.default_rng(seed))
    except DivergedError as err:
        err.history = loop.history
        raise
    finally:
        loop.history.seconds = time.perf_counter() - loop.start
    return loop.history


class _Loop:
    """The state one ``fit`` shares between its steps and its evaluations."""

    def __init__(self, net, optimizer, splits, l2, limit, callback, progress, decay=1.0):
        self.net, self.optimizer, self.splits = net, optimizer, splits
        self.l2, self.limit = l2, limit
        self.callback, self.progress = callback, progress
        self.history = History()
        self.start = time.perf_counter()
        self.grads = net.empty_grads()  # reused by every step: no large per-step allocations
        self.decay = decay  # decoupled weight decay's factor per update (1: none)

    def full_batch(self, iterations: int, eval_every: int) -> None:
        _, X, y = self.splits[0]
        for t in range(iterations):
            due = t % eval_every == 0
            data_loss, penalty, grads, n_correct = self.net.loss_terms_and_grads(
                X, y, self.l2, count_correct=due, out=self.grads
            )
            self.check_loss(data_loss + penalty, t)
            if due:  # the forward pass just done already measured step t
                self.evaluate(t, train=(data_loss, n_correct / X.shape[0]))
            self.update(grads, data_loss + penalty, iterations)
        self.evaluate(iterations)

    def minibatch(self, epochs: int, bs: int, eval_every: int, rng) -> None:
        _, X, y = self.splits[0]
        n = X.shape[0]
        total = epochs * -(-n // bs)
        self.evaluate(0)
        for epoch in range(1, epochs + 1):
            order = rng.permutation(n) if bs < n else None
            for start in range(0, n, bs):
                if order is None:
                    Xb, yb = X, y
                else:
                    idx = order[start : start + bs]
                    Xb, yb = X[idx], y[idx]  # 3x faster than np.take(..., out=) here
                data_loss, penalty, grads, _ = self.net.loss_terms_and_grads(
                    Xb, yb, self.l2, out=self.grads
                )
                self.check_loss(data_loss + penalty, self.history.updates, f"epoch {epoch}")
                self.update(grads, data_loss + penalty, total)
            if epoch % eval_every == 0 or epoch == epochs:
                self.evaluate(epoch)

    def update(self, grads, loss: float, total: int) -> None:
        if self.decay != 1.0:  # AdamW's order: shrink the weights, then the optimiser's step
            for W, _ in self.net.params:
                W *= W.dtype.type(self.decay)
        self.optimizer.step(self.net.params, grads)
        self.history.updates += 1
        for i, (W, b) in enumerate(self.net.params):
            for name, p in ((f"W{i}", W), (f"b{i}", b)):
                if not np.isfinite(p).all():
                    detail = f"parameter {name} became non-finite"
                    raise DivergedError(self.history.updates, loss, detail)
        if self.progress is not None:
            self.progress(self.history.updates, total, loss)

    def check_loss(self, loss: float, iteration: int, where: str = "") -> None:
        if not np.isfinite(loss):
            raise DivergedError(iteration, loss, where)
        if loss > self.limit:
            detail = f"above max_loss={self.limit:g}" + (f", {where}" if where else "")
            raise DivergedError(iteration, loss, detail)

    def evaluate(self, step: int, train: tuple[float, float] | None = None) -> None:
        metrics = {}
        for name, Xs, ys in self.splits:
            if name == "train" and train:
                loss, acc = train
            else:
                loss, acc = self.net.evaluate_validated(Xs, ys)
            metrics[f"{name}/loss"], metrics[f"{name}/acc"] = loss, acc
        if not np.isfinite(metrics["train/loss"]):
            raise DivergedError(self.history.updates, metrics["train/loss"], "at evaluation")
        self.history.record(step, metrics)
        if self.callback is not None:
            self.callback(step, dict(metrics))
