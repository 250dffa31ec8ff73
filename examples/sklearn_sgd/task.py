"""A task of your own: scikit-learn's SGDClassifier on the 8x8 digits.

The framework calls ``train(cfg, log)`` once per grid cell. ``cfg`` holds this task's
fields from ``sgd_digits.yaml`` (``task.alpha``, ``task.loss``, ...) and the cell's ``seed``;
``log`` records metrics, files and progress in the cell's MLflow run. Run it:

    python -m ablation -cd examples/sklearn_sgd -cn sgd_digits
    python -m ablation.report --experiment sgd_digits
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split


def train(cfg: dict, log) -> dict[str, float]:
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel values 0..16 -> [0, 1]
    # the same held-out test set for every cell and seed; the seed drives the model
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=cfg["test_size"], stratify=y, random_state=0
    )
    model = SGDClassifier(loss=cfg["loss"], alpha=cfg["alpha"], random_state=cfg["seed"])
    classes = np.unique(y)
    order = np.random.default_rng(cfg["seed"])
    for epoch in range(1, cfg["epochs"] + 1):
        shuffled = order.permutation(len(y_train))
        model.partial_fit(X_train[shuffled], y_train[shuffled], classes=classes)
        log.metrics(
            {"train/acc": model.score(X_train, y_train), "test/acc": model.score(X_test, y_test)},
            step=epoch,  # one step per epoch: the report draws learning curves from these
        )
        log.progress(epoch, cfg["epochs"])

    # any file can go into the run; a confusion_matrix.csv is drawn by the report
    counts = confusion_matrix(y_test, model.predict(X_test), labels=classes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "confusion_matrix.csv"
        header = "true\\pred," + ",".join(str(k) for k in classes)
        rows = np.column_stack([classes, counts])
        np.savetxt(path, rows, fmt="%d", delimiter=",", header=header, comments="")
        log.artifact(path)
    return {"test/acc": model.score(X_test, y_test), "train/acc": model.score(X_train, y_train)}
