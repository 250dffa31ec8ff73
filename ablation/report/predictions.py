"""Test-set predictions of a saved network, for ROC / PR curves and the error gallery.

Only inference: ``MLP.load(weights.npz).predict_proba(X)``; no training code is used.
The test set is rebuilt from the run's params (``data.name``, ``data.n_train``, ``seed``
and any other ``data.*`` param that ``ablation.data.load`` accepts by name).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ablation.report.cells import parse_value


class PredictionsUnavailable(Exception):
    """Predictions could not be computed; the message says why (shown in the report)."""


@dataclass
class Predictions:
    proba: np.ndarray  # (n, n_classes)
    y_true: np.ndarray  # (n,) int
    X: np.ndarray  # (n, n_features), for the gallery

    @property
    def y_pred(self) -> np.ndarray:
        return self.proba.argmax(axis=1)


def load_test_set(params: dict):
    """``(X_test, y_test)`` for the data a run was trained on."""
    try:
        from ablation.data import load
    except ImportError as exc:
        raise PredictionsUnavailable(f"ablation.data is not importable ({exc})") from exc
    name = params.get("data.name")
    if not name:
        raise PredictionsUnavailable("the run has no data.name param")
    kwargs = {}
    try:
        accepted = inspect.signature(load).parameters
    except (TypeError, ValueError):
        accepted = {}
    for key, text in params.items():
        arg = key.removeprefix("data.")
        if key.startswith("data.") and arg != "name" and arg in accepted:
            kwargs[arg] = parse_value(text)
    if "seed" in accepted and "seed" not in kwargs:
        kwargs["seed"] = parse_value(params.get("seed")) or 0
    try:
        ds = load(name, **kwargs)
    except Exception as exc:  # missing files, bad params: the report says so and goes on
        raise PredictionsUnavailable(f"cannot load test set {name!r}: {exc}") from exc
    return np.asarray(ds.X_test), np.asarray(ds.y_test).astype(np.int64)


def predict(weights: Path, params: dict) -> Predictions:
    """Load ``weights`` with ``ablation.nn.MLP.load`` and predict the run's test set."""
    try:
        from ablation.nn import MLP
    except ImportError as exc:
        raise PredictionsUnavailable(f"ablation.nn.MLP is not importable ({exc})") from exc
    if not hasattr(MLP, "load"):
        raise PredictionsUnavailable("ablation.nn.MLP has no load() method")
    X, y = load_test_set(params)
    try:
        net = MLP.load(str(weights))
        proba = np.asarray(net.predict_proba(X), dtype=np.float64)
    except Exception as exc:  # corrupt or incompatible weights
        raise PredictionsUnavailable(f"cannot predict with {weights.name}: {exc}") from exc
    if proba.shape != (len(y), proba.shape[1]) or proba.shape[1] < 2:
        raise PredictionsUnavailable(f"unexpected probability shape {proba.shape}")
    return Predictions(proba=proba, y_true=y, X=X)
