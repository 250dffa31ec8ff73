"""How long a sweep's cells will take, for the plan line before any job starts: the
median of a cell's earlier runs in the store, else the FLOP count of its network."""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from ablation import tracking
from ablation.cell.cell import Cell
from ablation.data import DATASETS
from ablation.sweep import launcher


def gemm_gflops() -> float:
    """A quick float32 GEMM rate on this machine, for time estimates before any history."""
    rng = np.random.default_rng(0)
    a = rng.random((2000, 784), dtype=np.float32)
    b = rng.random((784, 200), dtype=np.float32)
    a @ b
    tic = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * a.shape[0] * a.shape[1] * b.shape[1] / (time.perf_counter() - tic) / 1e9


def estimate_seconds(cell: Cell, gflops: float) -> float:
    """Training cost from the FLOP count of the cell.

    About 4 flops per weight and sample and step (forward and weight gradient; the first
    layer, which holds most weights, forms no input gradient), at 80% of the GEMM rate
    (benchmarks/README.md), plus start-up, data and logging.
    """
    cfg = cell.config
    source = DATASETS[cfg.data.name]
    sizes = [source.n_features, *cfg.model.hidden, source.n_classes]
    weights = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    n = cfg.data.n_train or source.train_size or 60000  # files of unknown size: MNIST's
    passes = cfg.optim.iterations if cell.full_batch else 1.6 * cfg.optim.epochs
    evals = (passes / cfg.optim.eval_every) * 2 * 10000 * weights
    factor = 2 if cfg.dtype == "float64" else 1
    return 1.5 + factor * (4 * n * weights * passes + evals) / (0.8 * gflops * 1e9)


def durations(done: dict[str, Any]) -> dict[str, list[float]]:
    """Cell hash -> the times of its FINISHED runs (the estimate's history)."""
    durations: dict[str, list[float]] = {}
    for run in done.values():
        seconds = run.data.metrics.get(tracking.schema.METRIC_TOTAL_S)
        if seconds:
            durations.setdefault(run.data.tags.get(tracking.TAG_CELL_HASH, ""), []).append(seconds)
    return durations


def estimate(todo: list[Cell], durations: dict, workers: int) -> tuple[float, int]:
    """Seconds of work left (the median of a cell's earlier runs, else its FLOPs), and the
    number of user-task cells with no history (their time is unknown until one ends)."""
    gflops = None
    total = 0.0
    unknown = 0
    for cell in todo:
        if durations.get(cell.cell_hash):
            total += statistics.median(durations[cell.cell_hash])
        elif not cell.is_mlp:
            unknown += 1
        else:
            gflops = gflops or gemm_gflops()
            # side by side, a cell has one core of the machine's rate
            share = 1 if workers == 1 else launcher.cores()
            total += estimate_seconds(cell, gflops / share)
    return total, unknown
