"""Wall time of a whole study against its arithmetic at the machine's best GEMM rate.

The limit of a study: its FLOPs (forward, weight gradients and input gradients of layers 2+
per training row and step; a forward pass per evaluated row) over the best float32 GEMM
rate of (60000x784) @ (784x200) that NumPy or PyTorch reach on this machine, measured in
the same run, before and after the sweeps. No code does the study's arithmetic faster
than that rate, so wall / limit says what everything else costs: the passes around the
products, the small products, the evaluations, process start-up, data, MLflow.

Two studies run through the real CLI, each into its own fresh sqlite store:

- full batch: the paper's grid ``init=random,kaiming reg=none,l2 data=42k,60k`` (gd,
  ``--iterations``, default 100; the protocol's is 300), run as the default ``auto``
  launcher runs it: one cell at a time on every core.
- minibatch: ``optim=sgd data=60k seed=0,1`` (batch 128, ``--epochs``, default 2), one
  cell per core side by side (``auto`` again).

Per cell kind (full-batch 42k, full-batch 60k, minibatch) it prints the limit and the
ratio of three walls to it: training alone (``time/fit_s``), the whole cell
(``time/total_s``: data, model, MLflow) and the cell's share of the sweep's wall (the
wall split over the sweep's cells in proportion to their ``time/total_s``). Aim: at
most 1.3x the limit for the full-batch cells' share of the sweep wall.

    python benchmarks/bench_study.py [--iterations N] [--epochs E] [--quick] [--keep DIR]

``--quick`` is a smoke run of the same code paths (digits data, 3 iterations, 1 epoch):
its ratios do not measure anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import best, gemm_calls, timed_rounds  # noqa: E402
from bench_sweep import machine_facts, run, sweep_runs  # noqa: E402

AIM = 1.3  # full-batch cells: sweep wall share / limit
GEMM_SHAPE = (60_000, 784, 200)


def best_gemm_rate(repeats: int) -> tuple[float, str]:
    """The best float32 GEMM rate (FLOP/s) of NumPy and PyTorch (if installed) here."""
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        with_torch = True
    except ImportError:
        with_torch = False
    m, k, n = GEMM_SHAPE
    X = np.random.default_rng(0).random((m, k), dtype=np.float32)
    times = best(timed_rounds(gemm_calls(X, with_torch), repeats))
    name = min(times, key=times.get)
    return 2.0 * m * k * n / times[name], name


def cell_flops(sizes: list[int], rows: dict[str, int], optim: dict[str, str]) -> float:
    """FLOPs of one cell: its training steps and its evaluations (see fit's schedule)."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    forward = 2.0 * sum(a * b for a, b in pairs)  # per row
    step = 2 * forward + 2.0 * sum(a * b for a, b in pairs[1:])  # + dW, + dA of layers 2+
    others = rows["test"] + rows["val"]  # evaluated at every evaluation point
    every = int(optim["optim.eval_every"])
    if _given(optim, "optim.iterations"):
        t = int(optim["optim.iterations"])
        points = len(range(0, t, every)) + 1  # the train split is free but at the end
        return t * rows["train"] * step + rows["train"] * forward + points * others * forward
    epochs = int(optim["optim.epochs"])
    points = 1 + sum(1 for e in range(1, epochs + 1) if e % every == 0 or e == epochs)
    return epochs * rows["train"] * step + points * (rows["train"] + others) * forward


def cell_rows(params: dict[str, str], cache: dict) -> tuple[list[int], dict[str, int]]:
    """Layer sizes and split rows of a cell, from its logged parameters (data loaded once)."""
    from ablation.data import load

    n_train = None if params["data.n_train"] == "None" else int(params["data.n_train"])
    n_val = int(params.get("data.n_val", "0") or 0)
    key = (params["data.name"], n_train, n_val, params["seed"])
    if key not in cache:
        ds = load(params["data.name"], n_train=n_train, seed=int(params["seed"]), n_val=n_val)
        rows = {"train": len(ds.y_train), "test": len(ds.y_test), "val": len(ds.y_val)}
        cache[key] = ([ds.n_features], rows, ds.n_classes)
    head, rows, classes = cache[key]
    hidden = [int(w) for w in params["model.hidden"].strip("[]").split(",")]
    return [*head, *hidden, classes], rows


def kind_of(params: dict[str, str]) -> str:
    data = params["data.name"] if params["data.n_train"] == "None" else params["data.n_train"]
    if _given(params, "optim.iterations"):
        return f"full batch, {data}"
    return f"minibatch {params['optim.batch_size']}, {data}"


def _given(params: dict[str, str], key: str) -> bool:
    return params.get(key, "None") not in ("None", "")


def run_study(work: Path, name: str, grid: list[str]) -> tuple[float, list]:
    """One sweep through the CLI into a fresh store: its wall and its finished cells."""
    store = work / name
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    args = ["-m", "ablation", "-m", *grid, f"experiment_name=study_{name}", "report=false"]
    args += [f"tracking.uri={uri}", f"hydra.sweep.dir={store / 'multirun'}"]
    print(f"  {name}: python -m ablation -m {' '.join(grid)} ...", flush=True)
    wall, _ = run(args, store, store / "sweep.log")
    runs = sweep_runs(uri, f"study_{name}")
    print(f"  {name}: {wall:.1f} s wall for {len(runs)} cells", flush=True)
    return wall, runs


def tally(studies: dict[str, tuple[float, list]], rate: float) -> dict[str, dict[str, float]]:
    """Per cell kind: limit, and fit / cell / sweep-share seconds, summed over its cells."""
    kinds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    cache: dict = {}
    for wall, runs in studies.values():
        totals = [r.data.metrics["time/total_s"] for r in runs]
        for r, total in zip(runs, totals, strict=True):
            params = r.data.params
            sizes, rows = cell_rows(params, cache)
            k = kinds[kind_of(params)]
            k["cells"] += 1
            k["flops"] += cell_flops(sizes, rows, params)
            k["fit"] += r.data.metrics["time/fit_s"]
            k["cell"] += total
            k["wall"] += wall * total / sum(totals)  # the sweep's wall, split by cost
    for k in kinds.values():
        k["limit"] = k["flops"] / rate
    return kinds


def report(kinds: dict, rate: float, rate_name: str, quick: bool) -> None:
    print(f"\nlimit = FLOPs / {rate / 1e9:.1f} GFLOP/s (best GEMM: {rate_name})")
    head = ("cell kind", "cells", "GFLOP", "limit s", "fit", "cell", "sweep share", "verdict")
    rows = []
    for name, k in sorted(kinds.items()):
        ratios = [k[key] / k["limit"] for key in ("fit", "wall")]
        full = name.startswith("full batch")
        word = ("PASS" if ratios[1] <= AIM else "FAIL") if full and not quick else "info"
        rows.append(
            (
                name,
                f"{k['cells']:.0f}",
                f"{k['flops'] / 1e9:,.1f}",
                f"{k['limit']:.1f}",
                f"{ratios[0]:.2f}x ({k['fit']:.1f} s)",
                f"{k['cell'] / k['limit']:.2f}x ({k['cell']:.1f} s)",
                f"{ratios[1]:.2f}x ({k['wall']:.1f} s)",
                word,
            )
        )
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    print("summary" + (" (QUICK: smoke only)" if quick else f" (aim: full batch <= {AIM}x)"))
    for row in [head, *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=None, help="gd steps (default 100)")
    parser.add_argument("--epochs", type=int, default=None, help="sgd epochs (default 2)")
    parser.add_argument("--quick", action="store_true", help="smoke run: digits, tiny budgets")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep its stores and logs")
    args = parser.parse_args()
    iterations = args.iterations or (3 if args.quick else 100)
    epochs = args.epochs or (1 if args.quick else 2)
    data = ["data=digits"] if args.quick else ["data=42k,60k"]
    mini = "data=digits" if args.quick else "data=60k"
    studies_grid = {
        "full_batch": ["init=random,kaiming", "reg=none,l2", *data],
        "minibatch": ["optim=sgd", mini, "seed=0,1", f"optim.epochs={epochs}"],
    }
    studies_grid["full_batch"].append(f"optim.iterations={iterations}")
    machine_facts()
    if args.quick:
        print("QUICK: a smoke run of the code paths; the ratios do not measure anything")
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_study-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    print(f"work dir: {work}")
    repeats = 2 if args.quick else 5
    tic = time.perf_counter()
    try:
        rate, rate_name = best_gemm_rate(repeats)
        print(f"best float32 GEMM before the sweeps: {rate / 1e9:.1f} GFLOP/s ({rate_name})")
        studies = {name: run_study(work, name, grid) for name, grid in studies_grid.items()}
        after, after_name = best_gemm_rate(repeats)
        print(f"best float32 GEMM after the sweeps: {after / 1e9:.1f} GFLOP/s ({after_name})")
        if after > rate:
            rate, rate_name = after, after_name
        kinds = tally(studies, rate)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end: {load}; bench wall {time.perf_counter() - tic:.0f} s")
    report(kinds, rate, rate_name, args.quick)


if __name__ == "__main__":
    main()
