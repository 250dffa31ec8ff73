"""Wall time of a whole sweep, sequential vs. parallel, and the overheads around training.

Runs the real CLI as subprocesses, each sweep into its own fresh MLflow sqlite store:

- Sweeps: the paper's 8-cell grid (init=random,kaiming reg=none,l2 data=42k,60k) at the
  default protocol, once with the basic launcher (1 process; a full-batch cell runs one
  Python thread per core, 1 BLAS thread each) and once with ``hydra/launcher=local`` (one
  worker per core, each cell 1 thread and 1 BLAS thread). Says which is faster and
  whether the default ``hydra/launcher=auto`` picks that one for this grid.
  Target: the default's wall <= 1.15 x sum(single-cell times) / cores, a single-cell
  time being that of one cell alone on one core (1 thread, 1 BLAS thread; one cell per
  data size is run, init and reg do not change the cost).
- Per-cell overhead outside training: mean(time/total_s - time/fit_s) / mean(time/total_s)
  over the sequential runs; target <= 5%.
- Cached 60k data load in a fresh process, after a warm-up load; target < 0.5 s.
- Peak RSS of a 60k full-batch cell (20 iterations); target <= 1 GiB.
- ``python -m ablation.report`` over a synthetic 200-run store; target < 20 s.

    python benchmarks/bench_sweep.py [--iterations N] [--quick] [--skip-sweep] [--keep DIR]

``--quick`` is a smoke run of the same code paths (digits data for the sweeps,
5 iterations, a 14-run store): its figures do not measure the targets.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOAD_CODE = """
import json, time
t0 = time.perf_counter()
from ablation.data import load
t1 = time.perf_counter()
load("mnist", n_train=60000)
print(json.dumps({"import_s": t1 - t0, "load_s": time.perf_counter() - t1}))
"""


def child_env() -> dict[str, str]:
    """The user's environment without what would steer the app away from its defaults."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ABLATION_BLAS_THREADS", "MLFLOW_TRACKING_URI")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run(args: list[str], cwd: Path, log: Path, env=None) -> tuple[float, int]:
    """Run ``python args`` in ``cwd``, output to ``log``; wall seconds and max RSS (KiB)."""
    tic = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=cwd,
            env={**child_env(), **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
    wall = time.perf_counter() - tic
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-25:])
        raise RuntimeError(f"exit {proc.returncode}: python {' '.join(args)}\n{tail}")
    rss_kib = usage.ru_maxrss // (1024 if sys.platform == "darwin" else 1)  # bytes on macOS
    return wall, rss_kib


def machine_facts() -> int:
    import numpy as np
    from threadpoolctl import threadpool_info

    cores = os.cpu_count() or 1
    load1, load5, load15 = os.getloadavg()
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, {cores} CPUs, "
        f"load average {load1:.2f} {load5:.2f} {load15:.2f}"
    )
    blas = 1
    for info in threadpool_info():
        blas = max(blas, info.get("num_threads") or 1)
        print(
            f"threadpool: {info.get('user_api')} {info.get('internal_api')} "
            f"{info.get('version')} arch={info.get('architecture')} "
            f"threads={info.get('num_threads')}"
        )
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
        if var in os.environ:
            print(f"env: {var}={os.environ[var]}")
    if load1 > 0.5:
        print(
            f"WARNING: 1-min load average {load1:.2f} > 0.5: the machine is not quiet, "
            "wall times will be high"
        )
    return blas


def sweep_runs(uri: str, experiment: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs(
        [exp.experiment_id], "tags.`ablation.role` = 'cell'", max_results=1000
    )
    bad = [
        r.data.tags.get("ablation.cell", r.info.run_id) for r in runs if r.info.status != "FINISHED"
    ]
    if bad:
        raise RuntimeError(f"cells not FINISHED: {bad}")
    return runs


def bench_sweeps(work: Path, grid: list[str], cores: int, blas: int, rows: list) -> None:
    single = single_cell_times(work, grid)
    from omegaconf import OmegaConf

    from ablation.sweep.launcher import in_turn

    walls, seq_runs, par_runs = {}, [], []
    modes = {"sequential": ["hydra/launcher=basic"], "parallel": ["hydra/launcher=local"]}
    for mode, extra in modes.items():
        store = work / mode
        store.mkdir()
        uri = f"sqlite:///{store / 'mlflow.db'}"
        how = (
            f"{cores} workers, 1 thread and 1 BLAS thread each"
            if mode == "parallel"
            else f"1 process; a full-batch cell runs {blas} threads x 1 BLAS thread"
        )
        print(f"  {mode} ({how}) ...", flush=True)
        args = ["-m", "ablation", "-m", *grid, f"experiment_name=bench_{mode}"]
        args += [f"tracking.uri={uri}", f"hydra.sweep.dir={store / 'multirun'}", *extra]
        walls[mode], _ = run(args, store, store / "sweep.log")
        runs = sweep_runs(uri, f"bench_{mode}")
        print(f"  {mode}: {walls[mode]:.1f} s wall for {len(runs)} cells")
        if mode == "sequential":
            seq_runs = runs
        else:
            par_runs = runs

    total = [r.data.metrics["time/total_s"] for r in seq_runs]
    fit = [r.data.metrics["time/fit_s"] for r in seq_runs]
    par_total = [r.data.metrics["time/total_s"] for r in par_runs]
    faster = min(walls, key=walls.get)
    speedup = walls["sequential"] / walls["parallel"]
    print(f"  faster: {faster} (parallel speed-up over sequential: {speedup:.2f}x)")
    cells = [OmegaConf.create({"optim": {"name": r.data.params["optim.name"]}}) for r in seq_runs]
    auto = "sequential" if in_turn(cells) else "parallel"  # the auto launcher's own rule
    agree = "the faster one" if auto == faster else "NOT the faster one: revisit the rule"
    print(f"  the default hydra/launcher=auto runs this grid {auto}: {agree}")
    rows.append(("sweep wall, sequential", f"{walls['sequential']:.1f} s", "-", "info"))
    rows.append(("sweep wall, parallel", f"{walls['parallel']:.1f} s", "-", "info"))

    # The target: wall <= 1.15 x sum(single-cell times) / cores, with each single-cell
    # time measured alone on one core (1 thread, 1 BLAS thread): the work of the sweep
    # in core-seconds, so the ratio says how well the sweep turns cores into cells.
    # (A cell alone on all cores already uses every core; dividing the sum of those
    # times by the cores again would count the cores twice.)
    per_cell = [single[cell_data(r)] for r in seq_runs]
    ideal = sum(per_cell) / cores
    print(
        "  single cells alone on one core: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in single.items())
        + f"; sum over the {len(per_cell)} cells / {cores} cores = {ideal:.1f} s"
    )
    print(
        f"  wall / that: sequential {walls['sequential'] / ideal:.2f}, "
        f"parallel {walls['parallel'] / ideal:.2f} (the parallel cells took "
        f"{sum(par_total):.1f} s of one-core time, {sum(par_total) / sum(per_cell):.2f}x "
        f"their time alone, when they share the machine's memory system)"
    )
    target = 1.15 * ideal
    name = f"sweep wall, default ({auto})"
    rows.append(verdict(name, walls[auto] <= target, f"{walls[auto]:.1f} s", f"<= {target:.1f} s"))
    startup = (walls["sequential"] - sum(total)) / len(total)
    overhead = [t - f for t, f in zip(total, fit, strict=True)]
    share = statistics.mean(overhead) / statistics.mean(total)
    print(
        f"  per-cell overhead: {statistics.mean(overhead):.2f} s of a "
        f"{statistics.mean(total):.1f} s cell; sweep start-up outside the cells: "
        f"{startup:.2f} s per cell"
    )
    shown = f"{share:.1%} ({statistics.mean(overhead):.2f} s)"
    rows.append(verdict("per-cell overhead", share <= 0.05, shown, "<= 5%"))


def cell_data(run) -> str:
    n_train = run.data.params["data.n_train"]
    return run.data.params["data.name"] if n_train == "None" else n_train


def single_cell_times(work: Path, grid: list[str]) -> dict[str, float]:
    """``time/total_s`` of one cell per data size of the grid, alone, on one core.

    The grid's other factors (init, reg, seed) do not change a cell's cost, so one
    cell stands for all cells of its data size.
    """
    store = work / "single"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    data = next(a for a in grid if a.startswith("data=")).removeprefix("data=").split(",")
    fixed = [a for a in grid if a.startswith("optim.")]
    times = {}
    warm_up = ["-m", "ablation", "data=digits", "optim.iterations=1", "experiment_name=warm_up"]
    warm_up += [f"tracking.uri={uri}", f"hydra.run.dir={store / 'warm_up'}"]
    run(warm_up, store, store / "warm_up.log")  # creates the store: not part of a cell's time
    for value in data:
        args = ["-m", "ablation", f"data={value}", *fixed, "experiment_name=bench_single"]
        args += [f"tracking.uri={uri}", f"hydra.run.dir={store / value}"]
        print(f"  one cell alone on one core: data={value} ...", flush=True)
        run(args, store, store / f"{value}.log", env={"ABLATION_BLAS_THREADS": "1"})
    for r in sweep_runs(uri, "bench_single"):
        times[cell_data(r)] = r.data.metrics["time/total_s"]
    return times


def bench_load(work: Path, rows: list) -> None:
    run(["-c", LOAD_CODE], work, work / "load_warmup.log")  # creates the cache if missing
    timings = []
    for i in range(3):  # three fresh processes, best of them: the least disturbed
        run(["-c", LOAD_CODE], work, work / f"load_{i}.log")
        timings.append(json.loads((work / f"load_{i}.log").read_text().splitlines()[-1]))
    best = min(timings, key=lambda t: t["load_s"])
    print(f"  load {best['load_s']:.3f} s (import of ablation.data {best['import_s']:.2f} s)")
    ok = best["load_s"] < 0.5
    rows.append(verdict("cached 60k data load", ok, f"{best['load_s']:.3f} s", "< 0.5 s"))


def bench_rss(work: Path, iterations: int, rows: list) -> None:
    store = work / "rss"
    store.mkdir()
    args = ["-m", "ablation", "data=60k", "experiment_name=bench_rss"]
    args += [f"optim.iterations={iterations}", f"tracking.uri=sqlite:///{store / 'mlflow.db'}"]
    args += [f"hydra.run.dir={store / 'out'}"]
    wall, rss_kib = run(args, store, store / "run.log")
    print(f"  {iterations} iterations in {wall:.1f} s, peak RSS {rss_kib / 1024:.0f} MiB")
    ok = rss_kib <= 1024 * 1024
    rows.append(verdict("peak RSS, 60k cell", ok, f"{rss_kib / 1024:.0f} MiB", "<= 1024 MiB"))


def bench_report(work: Path, seeds: int, rows: list) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.integration.test_report_build import make_store

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # "Creating initial tables..."

    tic = time.perf_counter()
    uri = make_store(work / "report", seeds=tuple(range(seeds)))  # 6 cells x seeds + 2 failed
    print(f"  store of {6 * seeds + 2} child runs built in {time.perf_counter() - tic:.1f} s")
    args = ["-m", "ablation.report", "--experiment", "paper_table3", "--tracking-uri", uri]
    args += ["--out", str(work / "report" / "out")]
    wall, _ = run(args, work, work / "report" / "report.log")
    print(f"  report rendered in {wall:.1f} s")
    rows.append(verdict(f"report, {6 * seeds + 2} runs", wall < 20, f"{wall:.1f} s", "< 20 s"))


def verdict(figure: str, ok: bool, ours: str, target: str) -> tuple[str, str, str, str]:
    """Print the one-line verdict of a figure; its row of the summary table."""
    word = "PASS" if ok else "FAIL"
    print(f"  -> {figure}: {ours} vs target {target}: {word}", flush=True)
    return figure, ours, target, word


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="optim.iterations of the sweeps (default: the protocol's)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: digits data, 5 iterations, a 14-run store"
    )
    parser.add_argument("--skip-sweep", action="store_true", help="skip both sweeps")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep its stores and logs")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    blas = machine_facts()
    iterations = args.iterations or (5 if args.quick else None)
    if args.quick:
        grid = ["init=random,kaiming", "reg=none,l2", "data=digits", "seed=0,1"]
    else:
        grid = ["init=random,kaiming", "reg=none,l2", "data=42k,60k"]
    if iterations:
        grid.append(f"optim.iterations={iterations}")
    if args.quick:
        print("QUICK: a smoke run of the code paths; the figures do not measure the targets")

    if args.keep:
        work = Path(args.keep).resolve()
        work.mkdir(parents=True, exist_ok=True)
        if any(work.iterdir()):
            sys.exit(f"--keep {work}: the directory must be empty (fresh stores)")
    else:
        work = Path(tempfile.mkdtemp(prefix="bench_sweep-"))
    print(f"work dir: {work}")

    rows: list[tuple[str, str, str, str]] = []
    steps = [
        ("sweeps: " + " ".join(grid), bench_sweeps, (grid, cores, blas)),
        ("cached 60k data load", bench_load, ()),
        ("peak RSS of a 60k full-batch cell", bench_rss, (5 if args.quick else 20,)),
        ("report over a synthetic store", bench_report, (2 if args.quick else 33,)),
    ]
    if args.skip_sweep:
        steps = steps[1:]
        rows += [(name, "-", "-", "skipped") for name in ("sweep wall", "per-cell overhead")]
    errors = 0
    try:
        for title, step, extra in steps:
            print(f"\n{title}", flush=True)
            try:
                step(work, *extra, rows)
            except Exception as err:  # report it, go on with the other figures
                errors += 1
                print(f"  ERROR: {type(err).__name__}: {err}")
                rows.append((title.split(":")[0], "error", "-", "ERROR"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)

    widths = [
        max(len(r[i]) for r in [("figure", "ours", "target", "verdict"), *rows]) for i in range(4)
    ]
    print("\nsummary" + (" (QUICK: smoke only)" if args.quick else ""))
    for row in [("figure", "ours", "target", "verdict"), *rows]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
