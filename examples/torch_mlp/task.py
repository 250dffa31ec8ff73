"""A PyTorch model as an ablation task (torch is optional; the tests run it when installed).

    pip install torch
    python -m ablation -cd examples/torch_mlp -cn torch_digits
    python -m ablation.report --experiment torch_digits

``train(cfg, log)`` gets this task's fields from ``torch_digits.yaml`` and the cell's seed,
logs a learning curve, saves the weights into the run, and returns the final metrics.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn


def train(cfg: dict, log) -> dict[str, float]:
    torch.manual_seed(cfg["seed"])
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.3, stratify=y, random_state=0
    )
    X_train, X_test = (torch.tensor(a, dtype=torch.float32) for a in (X_train, X_test))
    y_train, y_test = torch.tensor(y_train), torch.tensor(y_test)

    model = nn.Sequential(
        nn.Linear(64, cfg["hidden"]),
        nn.Dropout(cfg["dropout"]),
        nn.ReLU(),
        nn.Linear(cfg["hidden"], 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def accuracy(X, y) -> float:
        model.eval()
        with torch.no_grad():
            return float((model(X).argmax(1) == y).float().mean())

    for epoch in range(1, cfg["epochs"] + 1):
        model.train()
        for batch in torch.randperm(len(y_train)).split(cfg["batch_size"]):
            optimizer.zero_grad()
            loss = loss_fn(model(X_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
        log.metrics(
            {
                "train/loss": float(loss),
                "train/acc": accuracy(X_train, y_train),
                "test/acc": accuracy(X_test, y_test),
            },
            step=epoch,
        )
        log.progress(epoch, cfg["epochs"])

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.pt"
        torch.save(model.state_dict(), path)
        log.artifact(path)
    return {"test/acc": accuracy(X_test, y_test), "train/acc": accuracy(X_train, y_train)}
