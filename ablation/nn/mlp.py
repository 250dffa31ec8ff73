"""A fully connected network with softmax output, written for speed in plain NumPy.

Layout: ``params[l] = (W, b)`` with ``W`` of shape ``(fan_in, fan_out)``, so a
layer is ``a_next = f(a @ W + b)``. The hidden activations come from
``ACTIVATIONS``; the output layer is always softmax, fused with the
cross-entropy so its gradient is ``(probs - onehot) / n``.

Speed notes: a large batch runs in row blocks of at most ``BLOCK_ROWS`` (the
gradient is summed over blocks), so each block's activations stay in cache
between the passes over them; activations, the derivatives ``f'(z)`` (written
by the forward pass) and back-propagated errors live in buffers cached per
block size; matrix products write into them with ``np.matmul(..., out=)``,
transposes are views handed to BLAS, the first layer's input gradient is never
formed, and nothing leaves the network's dtype. The cache makes one ``MLP``
unsafe to use from several threads at once.
"""

from __future__ import annotations

import numbers

import numpy as np

from . import blocks as _rows
from . import saving
from .activations import get_activation
from .blocks import GROUPS, BlockRunner, Lane, Workspace, add_grads
from .checks import (
    ShapeError,
    check_activations,
    check_dtype,
    check_features,
    check_grads_like,
    check_l2,
    check_labels,
    check_params,
    check_positive_int,
    check_sizes,
)
from .init import get_init
from .losses import logits_to_probs, softmax_cross_entropy_

__all__ = ["BLOCK_ROWS", "GROUPS", "MLP"]

BLOCK_ROWS = _rows.BLOCK_ROWS  # rows per block of a large batch (read at each call: patchable)


class MLP:
    """Multilayer perceptron: ``sizes[0]`` inputs, hidden layers, ``sizes[-1]`` softmax outputs.

    >>> net = MLP([784, 200, 20, 10], ["leaky_relu", "tanh"], init="kaiming", seed=0)
    >>> net
    MLP(784-200-20-10, leaky_relu/tanh/softmax, init=kaiming, float32, 161,230 params)

    ``seed`` is an int (or a ``numpy.random.Generator``, used as is) feeding the
    initialiser; the global ``np.random`` state is never touched.

    ``threads`` (default 1; also settable later as ``net.threads``) spreads the
    row blocks of a large batch (more than ``BLOCK_ROWS`` rows: full-batch
    gradient descent, evaluation) over that many Python threads; NumPy releases
    the GIL in its products and elementwise passes, so the single-threaded
    elementwise work runs on every core too. Give BLAS one thread per Python
    thread then, e.g. ``with threadpoolctl.threadpool_limits(1): fit(...)``, or
    the cores are oversubscribed. Blocks are summed in ``GROUPS`` fixed groups,
    so results are bit-identical for any ``threads`` value. Small batches
    (one block) always run in the calling thread.
    """

    def __init__(
        self,
        sizes,
        activations,
        init: str = "kaiming",
        seed: int | np.random.Generator | None = 0,
        dtype="float32",
        threads: int = 1,
        *,
        params=None,
    ):
        """``params`` (a list of ``(W, b)``, e.g. read back by ``load``) replaces the
        initialiser's draw; they must have the shapes ``sizes`` implies."""
        self.sizes = check_sizes(sizes)
        self.activations = check_activations(activations, self.sizes)
        self._acts = [get_activation(name) for name in self.activations]
        init_fn = get_init(init)
        self.init = init
        self.dtype = check_dtype(dtype)
        self.seed = seed if isinstance(seed, numbers.Integral) else None
        shapes = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        if params is None:
            rng = np.random.default_rng(seed)
            params = [init_fn(fan_in, fan_out, rng, self.dtype) for fan_in, fan_out in shapes]
        else:
            params = check_params(params, shapes, self.dtype)
        self.params: list[tuple[np.ndarray, np.ndarray]] = params
        self.threads = threads
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self._runner = BlockRunner()
        self._group_sums: list[list[tuple[np.ndarray, np.ndarray]]] = []
        self._wscratch: list[np.ndarray] | None = None

    @property
    def threads(self) -> int:
        """Python threads for the row blocks of a large batch (see the class docstring)."""
        return self._threads

    @threads.setter
    def threads(self, value: int) -> None:
        self._threads = check_positive_int("threads", value)

    # ------------------------------------------------------------------ info
    @property
    def n_params(self) -> int:
        return sum(W.size + b.size for W, b in self.params)

    @property
    def n_classes(self) -> int:
        return self.sizes[-1]

    def __repr__(self) -> str:
        shape = "-".join(str(s) for s in self.sizes)
        acts = "/".join([*self.activations, "softmax"])
        return (
            f"MLP({shape}, {acts}, init={self.init}, {self.dtype.name}, {self.n_params:,} params)"
        )

    def __getstate__(self):  # pickling (e.g. joblib) must not ship the buffers or the pool
        state = self.__dict__.copy()
        for key in ("_runner", "_group_sums", "_wscratch"):
            del state[key]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset_buffers()

    # ------------------------------------------------------------ public API
    def loss_and_grads(self, X, y, l2: float = 0.0, *, out=None):
        """Mean softmax cross-entropy + ``l2/2 * sum ||W||^2`` and its gradients.

        Returns ``(loss, grads)``; ``loss`` is a Python float, ``grads`` a list of
        ``(dW, db)`` shaped like ``params``: freshly allocated (safe to keep), or,
        if ``out`` is given (e.g. ``net.empty_grads()``), written into ``out``,
        which saves two large allocations per step in a training loop.
        ``X`` is cast to the network's dtype (a copy if it differs: cast once
        up front when calling this in a loop).
        """
        X, y = self.check_data(X, y)
        l2 = check_l2(l2)
        if out is not None:
            check_grads_like(out, self.params)
        data_loss, penalty, grads, _ = self.loss_terms_and_grads(X, y, l2, out=out)
        return data_loss + penalty, grads

    def empty_grads(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Uninitialised ``(dW, db)`` buffers shaped like ``params``, for ``out=``."""
        return [(np.empty_like(W), np.empty_like(b)) for W, b in self.params]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, rows sum to 1."""
        X = self.check_X(X)
        probs = np.empty((X.shape[0], self.n_classes), dtype=self.dtype)
        for rows in _blocks(X.shape[0]):
            probs[rows] = logits_to_probs(self._forward(X[rows]))
        return probs

    def predict(self, X) -> np.ndarray:
        """Most probable class per row, ``int64`` of shape ``(n,)``."""
        X = self.check_X(X)
        labels = np.empty(X.shape[0], dtype=np.int64)
        for rows in _blocks(X.shape[0]):
            labels[rows] = self._forward(X[rows]).argmax(axis=1)
        return labels

    def evaluate(self, X, y) -> tuple[float, float]:
        """``(mean cross-entropy, accuracy in [0, 1])`` without the L2 term."""
        X, y = self.check_data(X, y)
        return self.evaluate_validated(X, y)

    # ----------------------------------------------------------- validation
    def check_X(self, X) -> np.ndarray:
        """Return ``X`` as a 2-D array of the network's dtype with ``sizes[0]`` columns."""
        return check_features(X, self.sizes[0], self.dtype)

    def check_data(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """Validate ``X`` as in ``check_X`` and ``y`` as labels in ``[0, n_classes)``."""
        X = self.check_X(X)
        return X, check_labels(y, X.shape[0], self.n_classes)

    # ---------------------------------------- on validated data (training loops)
    def loss_terms_and_grads(self, X, y, l2: float, count_correct=False, out=None):
        """Forward + backward on data from ``check_data``, gradients into ``out`` if given.

        Returns ``(data_loss, l2_penalty, grads, n_correct)``; ``n_correct`` is
        ``None`` unless asked for (it is free here: the logits are at hand).
        Runs block by block (see ``ablation.nn.blocks``); the gradient is the sum
        of the blocks' contributions, each already divided by the full ``n``.
        For a loop that validated its data once; ``loss_and_grads`` checks every call.
        """
        n = X.shape[0]
        grads = self.empty_grads() if out is None else out
        if n <= BLOCK_ROWS:  # one block (a minibatch): no groups, no threads
            lane = self._runner.lanes[0]
            data_loss, n_correct = self._backprop(lane, X, y, n, grads, count_correct)
            return self._add_l2(data_loss, grads, l2, n_correct if count_correct else None)
        groups = _groups(n)
        sums = [grads, *(self._group_sum(g) for g in range(1, len(groups)))]  # before any thread

        def work(lane: Lane, g: int, blocks: list[slice]) -> tuple[float, int]:
            target = sums[g]
            loss, correct = 0.0, 0
            for i, rows in enumerate(blocks):
                dest = target if i == 0 else self._block_grads(lane)
                block_loss, block_correct = self._backprop(
                    lane, X[rows], y[rows], n, dest, count_correct
                )
                loss += block_loss
                correct += block_correct
                if i:
                    add_grads(target, dest)
            return loss, correct

        results = self._runner.by_groups(groups, work, self.threads)
        for g in range(1, len(groups)):
            add_grads(grads, sums[g])
        data_loss = sum(loss for loss, _ in results)
        n_correct = sum(correct for _, correct in results)
        return self._add_l2(data_loss, grads, l2, n_correct if count_correct else None)

    def evaluate_validated(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """``evaluate`` on data from ``check_data`` (no second check)."""
        n = X.shape[0]

        def work(lane: Lane, g: int, blocks: list[slice]) -> tuple[float, int]:
            loss, correct = 0.0, 0
            for rows in blocks:
                logits = self._forward(X[rows], lane)
                m = logits.shape[0]
                correct += int(np.count_nonzero(logits.argmax(axis=1) == y[rows]))
                ws = self._workspace(m, lane)
                loss += softmax_cross_entropy_(logits, y[rows], ws.rows) * (m / n)
            return loss, correct

        results = self._runner.by_groups(_groups(n), work, self.threads)
        return sum(loss for loss, _ in results), sum(c for _, c in results) / n

    # ------------------------------------------------------------- internals
    def _workspace(self, n: int, lane: Lane | None = None) -> Workspace:
        return (lane or self._runner.lanes[0]).workspace(n, self.sizes[1:], self.dtype)

    def _forward(self, X: np.ndarray, lane: Lane | None = None) -> np.ndarray:
        """Run all layers on one block of validated ``X``; return its logits (a cached buffer).

        Hidden layers write ``f'(z)`` into the block's error buffers when they
        exist (training), for the backward pass to multiply by.
        """
        ws = self._workspace(X.shape[0], lane)
        a = X
        for layer, ((W, b), out) in enumerate(zip(self.params, ws.outs, strict=True)):
            np.matmul(a, W, out=out)
            out += b
            if layer < len(self._acts):
                grad = ws.deltas[layer] if ws.deltas is not None else None
                self._acts[layer].forward(out, grad)
            a = out
        return a

    def _add_l2(self, data_loss: float, grads, l2: float, n_correct):
        """Add the L2 term's gradient to ``grads``; the ``loss_terms_and_grads`` result tuple."""
        penalty = 0.0
        if l2:
            scratches = self._weight_scratch()
            for (W, _), (dW, _), scratch in zip(self.params, grads, scratches, strict=True):
                np.multiply(W, self.dtype.type(l2), out=scratch)
                dW += scratch
            penalty = 0.5 * l2 * sum(float(np.vdot(W, W)) for W, _ in self.params)
        return data_loss, penalty, grads, n_correct

    def _backprop(self, lane: Lane, X, y, n: int, grads, count_correct: bool):
        """One block: write its share of the data-loss gradient (``sum / n``) into ``grads``.

        Returns the block's share of the mean cross-entropy and its number of
        correct predictions (0 unless ``count_correct``).
        """
        m = X.shape[0]
        ws = self._workspace(m, lane)
        deltas = ws.ensure_deltas()  # before the forward pass, which fills them with f'(z)
        logits = self._forward(X, lane)
        correct = int(np.count_nonzero(logits.argmax(axis=1) == y)) if count_correct else 0
        loss = softmax_cross_entropy_(logits, y, ws.rows) * (m / n)
        delta = logits  # now probs; turn into dL/dlogits = (probs - onehot) / n
        delta[ws.rows, y] -= 1
        delta *= self.dtype.type(1.0 / n)
        for layer in range(len(self.params) - 1, -1, -1):
            W, _ = self.params[layer]
            dW, db = grads[layer]
            a_in = X if layer == 0 else ws.outs[layer - 1]
            np.matmul(a_in.T, delta, out=dW)  # BLAS reads the transposed view; no copy
            np.matmul(ws.ones, delta, out=db)  # bias gradient = column sums
            if layer > 0:  # the input gradient of the first layer is never needed
                np.matmul(delta, W.T, out=a_in)  # a_in is free now: dW is done
                prev = deltas[layer - 1]  # holds f'(z) of that layer, from _forward
                np.multiply(prev, a_in, out=prev)
                delta = prev
        return loss, correct

    def _group_sum(self, g: int) -> list[tuple[np.ndarray, np.ndarray]]:
        while len(self._group_sums) < g:
            self._group_sums.append(self.empty_grads())
        return self._group_sums[g - 1]

    def _block_grads(self, lane: Lane) -> list[tuple[np.ndarray, np.ndarray]]:
        if lane.block_grads is None:
            lane.block_grads = self.empty_grads()
        return lane.block_grads

    def _weight_scratch(self) -> list[np.ndarray]:
        if self._wscratch is None:
            self._wscratch = [np.empty_like(W) for W, _ in self.params]
        return self._wscratch

    # ------------------------------------------------------------ save/load
    def save(self, path) -> None:
        """Write an ``.npz`` (no pickle): architecture, init, dtype, ``W0, b0, W1, b1, ...``."""
        saving.save(self, path)

    @classmethod
    def load(cls, path) -> MLP:
        """Read a file written by ``save``; parameters round-trip bit for bit."""
        try:
            return cls(**saving.read(path))
        except ShapeError as err:
            raise ValueError(f"{path!r}: {err}") from None


def _blocks(n: int) -> list[slice]:
    return _rows.blocks(n, BLOCK_ROWS)


def _groups(n: int) -> list[list[slice]]:
    return _rows.groups(n, BLOCK_ROWS)
