"""seeds=auto against a fixed 10-seed sweep: the same verdicts with at most 60% of the runs.

The study (digits data, full-batch gradient descent) plants clear and undecided cells:
``init=random,kaiming,xavier x optim.iterations=50,200``. After 200 steps every init is
within a point or so across seeds; after 50 steps Kaiming is still tight, Xavier needs a
seed or two more, and the paper's random init (uniform in [-0.5, 0.5)) lands anywhere from
83% to 96% test accuracy, so it stays undecided up to the cap.

Both sweeps run the real CLI as subprocesses, one after the other, into one fresh sqlite
store (two experiments, so neither reuses the other's runs). Each cell's verdict is the
``seeds=auto`` rule (``ablation.sweep.adaptive``) on all of its finished seeds: decided when its
95% t-interval is at most ±2 points wide, else inconclusive. The script prints both run
counts and wall times and ends with PASS when every verdict agrees and seeds=auto needed
at most 60% of the fixed sweep's runs.

    python benchmarks/bench_seeds.py [--quick] [--max-seeds N] [--keep DIR]

``--quick`` keeps the cap but drops Xavier (4 cells, 40 fixed runs): a smaller machine load,
the same claim.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_SHARE = 0.60


def run_cli(args: list[str], cwd: Path) -> float:
    """Run ``python -m ablation ARGS``; its wall time in seconds (exits on failure)."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    tic = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "ablation", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - tic
    if proc.returncode != 0:
        sys.exit(f"sweep failed ({' '.join(args)}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return seconds


def cells_of(uri: str, experiment: str) -> dict[str, list[float]]:
    """cell -> final test accuracies (%) of its FINISHED runs, by seed."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'cell'")
    by_cell: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for run in runs:
        if run.info.status != "FINISHED":
            continue
        p = run.data.params
        cell = f"init={p['init.name']} iterations={p['optim.iterations']}"
        by_cell[cell].append((int(p["seed"]), 100 * run.data.metrics["test/acc"]))
    return {c: [v for _, v in sorted(rows)] for c, rows in sorted(by_cell.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 cells instead of 6")
    parser.add_argument("--max-seeds", type=int, default=10, help="the cap and the fixed seeds")
    parser.add_argument("--keep", type=Path, help="keep the store in this folder")
    args = parser.parse_args()

    from ablation.report.stats import decide
    from ablation.sweep.adaptive import AutoSettings

    load1 = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load1:.2f}")
    if load1 > 2:
        print(f"WARNING: load {load1:.2f} > 2: wall times are slowed by other processes")
    inits = "random,kaiming" if args.quick else "random,kaiming,xavier"
    study = ["data=digits", f"init={inits}", "optim.iterations=50,200"]
    settings = AutoSettings(max_seeds=args.max_seeds)
    print(settings.rule)

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench_seeds_"))
    work.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{work / 'mlflow.db'}"
    common = [f"tracking.uri={uri}"]
    try:
        auto_s = run_cli(
            ["seeds=auto", *study, f"hydra.sweeper.max_seeds={args.max_seeds}", *common]
            + ["experiment_name=bench_auto"],
            work,
        )
        fixed_s = run_cli(
            ["-m", *study, f"seed=range({args.max_seeds})", *common, "experiment_name=bench_fixed"],
            work,
        )
        auto, fixed = cells_of(uri, "bench_auto"), cells_of(uri, "bench_fixed")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{'cell':<28} {'fixed: n  mean  ±95%  verdict':<38} seeds=auto: n  mean  ±95%  verdict"
    )
    agree = True
    for cell in sorted(set(auto) | set(fixed)):
        row = [f"{cell:<28}"]
        verdicts = []
        for values in (fixed.get(cell, []), auto.get(cell, [])):
            d = decide(values, max_half_width=settings.precision)
            verdicts.append(d.verdict)
            mean = sum(values) / len(values) if values else float("nan")
            row.append(f"{d.n:>2}  {mean:6.2f}  ±{d.half_width:5.2f}  {d.verdict:<13}")
        same = verdicts[0] == verdicts[1]
        agree &= same
        print("  ".join(row) + ("" if same else "  <- differs"))
    n_fixed = sum(len(v) for v in fixed.values())
    n_auto = sum(len(v) for v in auto.values())
    share = n_auto / n_fixed
    print(
        f"\nruns:      fixed {n_fixed:>4}   seeds=auto {n_auto:>4}   "
        f"({share:.0%} of the fixed sweep)"
    )
    print(
        f"wall time: fixed {fixed_s:6.1f} s   seeds=auto {auto_s:6.1f} s   ({auto_s / fixed_s:.0%})"
    )
    ok = agree and share <= TARGET_SHARE
    print(
        f"{'PASS' if ok else 'FAIL'}: verdicts {'agree' if agree else 'differ'}, seeds=auto used "
        f"{share:.0%} of the runs (target <= {TARGET_SHARE:.0%})"
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
