"""Argument checks shared by the numeric core; every error names the bad value and the fix."""

from __future__ import annotations

import numbers

import numpy as np

from .activations import ACTIVATIONS, get_activation
from .rules import RULES, checked

DTYPES = ("float32", "float64")


def check_dtype(dtype) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is float32 or float64, else raise ``ValueError``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPES)}")
    return dt


#: The rule for a learning rate (``RULES["optim.lr"]``), as the errors state it.
LR_RULE = RULES["optim.lr"].text


def check_lr(value) -> float:
    """Return ``float(value)`` if it is a valid learning rate, else raise ``ValueError``."""
    return checked("learning rate lr", "optim.lr", value)


def check_unit_interval(name: str, value) -> float:
    """``momentum``, ``beta1``, ``beta2``: the rule of ``optim.<name>``."""
    return checked(name, f"optim.{name}", value)


def check_nonnegative(name: str, value) -> float:
    """Return ``float(value)`` if it is a finite number >= 0, else raise ``ValueError``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number) or number < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return number


def check_l2(l2) -> float:
    return checked("l2", "reg.l2", l2)


def check_weight_decay(weight_decay) -> float:
    return checked("weight_decay", "reg.wd", weight_decay)


def check_sizes(sizes) -> list[int]:
    try:
        sizes = list(sizes)
    except TypeError:
        raise ValueError(f"sizes must be a list of layer widths, got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(
            f"sizes {sizes!r} is too short; give at least [n_inputs, n_classes] (len >= 2)"
        )
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s <= 0:
            raise ValueError(f"sizes must be positive integers; got {s!r} in {sizes!r}")
    return [int(s) for s in sizes]


def check_activations(activations, sizes: list[int]) -> list[str]:
    if isinstance(activations, str):
        raise ValueError(
            f"activations must be a list of names, one per hidden layer, got the string "
            f"{activations!r}; e.g. [{activations!r}]"
        )
    activations = list(activations)
    if len(activations) != len(sizes) - 2:
        raise ValueError(
            f"sizes {sizes} has {len(sizes) - 2} hidden layer(s) but {len(activations)} "
            f"activation(s) were given ({activations}); give len(sizes) - 2 names from: "
            f"{', '.join(ACTIVATIONS)} (the output layer is always softmax)"
        )
    for name in activations:
        get_activation(name)
    return [str(a) for a in activations]


def check_positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class ShapeError(ValueError):
    """Parameters whose shapes do not fit the layer sizes."""


def check_params(params, shapes, dtype) -> list[tuple[np.ndarray, np.ndarray]]:
    """``params`` as arrays of ``dtype``, checked against the layer ``shapes``."""
    params = list(params)
    if len(params) != len(shapes):
        raise ShapeError(f"{len(params)} layers of parameters for {len(shapes)} layers")
    checked = []
    for i, ((W, b), (fan_in, fan_out)) in enumerate(zip(params, shapes, strict=True)):
        W, b = np.asarray(W), np.asarray(b)
        if W.shape != (fan_in, fan_out) or b.shape != (fan_out,):
            raise ShapeError(f"layer {i} has shapes {W.shape}, {b.shape}")
        checked.append((W.astype(dtype), b.astype(dtype)))
    return checked


def check_grads_like(grads, params) -> None:
    expected = [(W.shape, W.dtype, b.shape, b.dtype) for W, b in params]
    try:
        got = [(dW.shape, dW.dtype, db.shape, db.dtype) for dW, db in grads]
    except (TypeError, ValueError, AttributeError):
        got = None
    if got != expected:
        raise ValueError(
            "out must be a list of (dW, db) arrays shaped like params, in the network's "
            "dtype; make one with net.empty_grads()"
        )


def check_features(X, n_features: int, dtype) -> np.ndarray:
    """Return ``X`` as a 2-D array of ``dtype`` with ``n_features`` columns (no copy if it is)."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != n_features:
        raise ValueError(
            f"X has shape {X.shape}; this network expects (n, {n_features}) "
            f"(expected {n_features} features per row, got "
            f"{X.shape[1] if X.ndim == 2 else f'a {X.ndim}-D array'})"
        )
    if X.shape[0] == 0:
        raise ValueError("X has no rows; pass at least one sample")
    return X.astype(dtype, copy=False)


def check_labels(y, n_rows: int, n_classes: int) -> np.ndarray:
    """Return ``y`` as ``intp`` labels, one per row, in ``[0, n_classes)``."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n_rows:
        raise ValueError(f"y has shape {y.shape}; expected ({n_rows},), one label per row")
    if y.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer class labels, got dtype {y.dtype}")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= n_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(
            f"label {bad} is out of range; labels must lie in [0, {n_classes}) "
            f"for a network with {n_classes} outputs"
        )
    return y.astype(np.intp, copy=False)
