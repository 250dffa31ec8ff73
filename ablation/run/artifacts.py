"""What a finished cell leaves in its run: config, weights, confusion matrix, per-class
table (``per_class.csv``), figures."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from ablation import tracking
from ablation.run import plots


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes**2).reshape(
        n_classes, n_classes
    )


PER_CLASS_FILE = "per_class.csv"
PER_CLASS_COLUMNS = ("class", "support", "recall", "precision", "f1")


def per_class_table(confusion: np.ndarray) -> np.ndarray:
    """One row per class: class, support, recall, precision, f1 (fractions; 0 when undefined)."""
    tp = np.diag(confusion).astype(float)
    support, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    both = recall + precision
    f1 = np.divide(2 * recall * precision, both, out=np.zeros_like(tp), where=both > 0)
    return np.column_stack([np.arange(len(tp)), support, recall, precision, f1])


def per_class_metrics(confusion: np.ndarray) -> dict[str, float]:
    """The one per-class scalar a run logs: ``test/min_class_recall`` (the worst class).

    The per-class numbers themselves go to the ``per_class.csv`` artifact (one table, not
    one single-step metric per class and kind)."""
    table = per_class_table(confusion)
    seen = table[table[:, 1] > 0]
    return {"test/min_class_recall": float(seen[:, 2].min()) if len(seen) else 0.0}


def write_per_class(confusion: np.ndarray, path: Path) -> None:
    np.savetxt(
        path,
        per_class_table(confusion),
        fmt=["%d", "%d", "%.6f", "%.6f", "%.6f"],
        delimiter=",",
        header=",".join(PER_CLASS_COLUMNS),
        comments="",
    )


def test_confusion(net, data) -> np.ndarray:
    return confusion_matrix(data.y_test, net.predict(data.X_test), data.n_classes)


def config_yaml(cell) -> str:
    """The cell's config as YAML, with the optimiser's options (a plugin's too)."""
    node = OmegaConf.structured(cell.config)
    OmegaConf.set_struct(node.optim, False)
    node.optim.merge_with(cell.optimizer_options)
    return OmegaConf.to_yaml(node)


def log_artifacts(
    cell, net, data, confusion: np.ndarray, curves: plots.Curves, client, run_id: str
) -> None:
    """Write the run's files to the store; ``curves`` are the metrics it logged, by step."""
    with tempfile.TemporaryDirectory(prefix="ablation-") as tmp:
        out = Path(tmp)
        (out / "config.yaml").write_text(config_yaml(cell))
        net.save(out / "weights.npz")
        labelled = np.column_stack([np.arange(data.n_classes), confusion])
        header = "true\\pred," + ",".join(str(k) for k in range(data.n_classes))
        np.savetxt(
            out / "confusion_matrix.csv",
            labelled,
            fmt="%d",
            delimiter=",",
            header=header,
            comments="",
        )
        write_per_class(confusion, out / PER_CLASS_FILE)
        plots.confusion_png(confusion, out / "confusion_matrix.png", title=cell.label)
        plots.learning_curve_png(curves, out / "learning_curve.png", title=cell.label)
        tracking.retry(client.log_artifacts, run_id, str(out))
