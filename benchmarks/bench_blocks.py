"""The full-batch float32 step at several row-block sizes, against the best GEMM rate.

A full batch runs in row blocks (``ablation.nn.blocks``); their size sets how much of a
block's activations stays in cache between passes, and also the order in which the
gradient is summed (a different size gives results that differ in the last bits). This
script tells whether another size than the default would be faster on this machine:
each size's step (set up as the app sets up a full-batch cell: one Python thread per
core, one BLAS thread each) takes turns with the others and with the GEMMs of
``bench_core.py``, and its rate is printed as a share of the best GEMM rate.

    python benchmarks/bench_blocks.py [--rows 1024,2048,4096] [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import os

from bench_core import N_FULL, best, gemm_calls, load_data, ours_step, step_flops, timed_rounds

from ablation.nn import blocks, mlp


def sized(step, rows: int):
    """``step`` run with ``mlp.BLOCK_ROWS = rows`` (restored afterwards)."""

    def call():
        saved = mlp.BLOCK_ROWS
        mlp.BLOCK_ROWS = rows
        try:
            step()
        finally:
            mlp.BLOCK_ROWS = saved

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="1024,1536,2048,3072,4096", help="block sizes")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 repeats, for a smoke run")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    sizes = [int(r) for r in args.rows.split(",")]
    print(f"{os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    X, y, source = load_data()
    print(f"data: {source}; default BLOCK_ROWS {mlp.BLOCK_ROWS}")
    try:
        import torch  # noqa: F401

        with_torch = True
    except ImportError:
        with_torch = False
    calls = dict(gemm_calls(X, with_torch))
    for rows in sizes:
        calls[f"step {rows}"] = sized(ours_step(X, y, "float32"), rows)
    times = best(timed_rounds(calls, repeats))
    gemm = {k: 2.0 * N_FULL * 784 * 200 / t for k, t in times.items() if not k.startswith("step")}
    top = max(gemm, key=gemm.get)
    print(f"best GEMM: {top}, {gemm[top] / 1e9:.1f} GFLOP/s")
    print(f"{'rows':>6} {'blocks':>7} {'block rows':>11} {'ms':>8} {'share of best GEMM':>19}")
    for rows in sizes:
        t = times[f"step {rows}"]
        parts = blocks.blocks(N_FULL, rows)
        print(
            f"{rows:>6} {len(parts):>7} {parts[0].stop - parts[0].start:>11} {t * 1e3:>8.1f} "
            f"{step_flops(N_FULL) / t / gemm[top]:>19.0%}"
        )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
