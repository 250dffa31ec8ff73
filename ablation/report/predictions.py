"""Test-set predictions of a saved network, for ROC / PR curves and the error gallery.

Only inference: ``MLP.load(weights.npz).predict_proba(X)``; no training code is used.
The test set is rebuilt from the run's typed config (:func:`ablation.tracking.run_config`)
through :data:`LOAD_ARGUMENTS`, the config keys ``ablation.data.load`` is called with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: config key -> argument of ``ablation.data.load`` (besides the source's name)
LOAD_ARGUMENTS = {
    "data.n_train": "n_train",
    "data.n_val": "n_val",
    "data.path": "path",
    "data.cache_dir": "cache_dir",
    "seed": "seed",
}


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


def load_test_set(config: dict):
    """``(X_test, y_test)`` for the data a run was trained on, from its typed config."""
    try:
        from ablation.data import load
    except ImportError as exc:
        raise PredictionsUnavailable(f"ablation.data is not importable ({exc})") from exc
    name = config.get("data.name")
    if not name:
        raise PredictionsUnavailable("the run has no data.name in its config")
    kwargs = {arg: config[key] for key, arg in LOAD_ARGUMENTS.items() if key in config}
    kwargs["seed"] = kwargs.get("seed") or 0
    try:
        ds = load(name, **kwargs)
    except Exception as exc:  # missing files, bad params: the report says so and goes on
        raise PredictionsUnavailable(f"cannot load test set {name!r}: {exc}") from exc
    return np.asarray(ds.X_test), np.asarray(ds.y_test).astype(np.int64)


def predict(weights: Path, config: dict) -> Predictions:
    """Load ``weights`` with ``ablation.nn.MLP.load`` and predict the test set of the run
    whose typed config is ``config``."""
    try:
        from ablation.nn import MLP
    except ImportError as exc:
        raise PredictionsUnavailable(f"ablation.nn.MLP is not importable ({exc})") from exc
    if not hasattr(MLP, "load"):
        raise PredictionsUnavailable("ablation.nn.MLP has no load() method")
    X, y = load_test_set(config)
    try:
        net = MLP.load(str(weights))
        proba = np.asarray(net.predict_proba(X), dtype=np.float64)
    except Exception as exc:  # corrupt or incompatible weights
        raise PredictionsUnavailable(f"cannot predict with {weights.name}: {exc}") from exc
    if proba.shape != (len(y), proba.shape[1]) or proba.shape[1] < 2:
        raise PredictionsUnavailable(f"unexpected probability shape {proba.shape}")
    return Predictions(proba=proba, y_true=y, X=X)
