"""The two figures every run carries as artifacts: its confusion matrix and learning curves.

matplotlib is imported inside the functions (Agg backend), so importing the app stays fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ablation import tracking


def confusion_png(confusion: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    image = ax.imshow(confusion, cmap="Blues")
    for (i, j), count in np.ndenumerate(confusion):
        color = "white" if count > confusion.max() / 2 else "black"
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set(
        xlabel="predicted digit",
        ylabel="true digit",
        title=title,
        xticks=range(len(confusion)),
        yticks=range(len(confusion)),
    )
    ax.title.set_fontsize(8)
    fig.colorbar(image, ax=ax, label="test images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def learning_curve_png(client, run_id: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.6))
    for split in ("train", "val", "test"):
        for ax, name in ((ax_loss, "loss"), (ax_acc, "acc")):
            history = tracking.retry(client.get_metric_history, run_id, f"{split}/{name}")
            if history:
                history = sorted(history, key=lambda m: m.step)
                scale = 100 if name == "acc" else 1
                ax.plot([m.step for m in history], [m.value * scale for m in history], label=split)
    ax_loss.set(xlabel="step", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="step", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
