"""The paper's probable budget, read off our own learning curves (read-only on the store).

Prints the number of full-batch steps at which the mean test accuracy over seeds of our
random-init / no-L2 / 42k cell of the `paper_table3` study first reaches the paper's 76.6%
for that row, interpolated linearly between the logged evaluation steps and rounded up.
Only that one row is used: the other four paper rows are then compared at this budget,
not tuned to.
    python docs/results/paper_budget_step.py sqlite:///$PWD/mlruns/mlflow.db
"""

from __future__ import annotations

import math
import sys

import numpy as np

from ablation.report.runs import fetch_histories, fetch_runs, find_experiment, open_client

PAPER_TEST = 76.6  # Table 3, random initialisation, 42k images, test accuracy (%)
CELL = {"init.name": "random", "reg.name": "none", "data.n_train": "42000"}


def main(uri: str) -> int:
    client = open_client(uri)
    runs = fetch_runs(client, find_experiment(client, "paper_table3"))
    runs = runs[runs["status"].eq("FINISHED")]
    mine = runs[[all(p.get(k) == v for k, v in CELL.items()) for p in runs["params"]]]
    if mine.empty:
        sys.exit("error: no finished random / no-L2 / 42k runs in paper_table3; run it first")
    hist = fetch_histories(client, list(mine["run_id"]), keys=("test/acc",))
    wide = hist.pivot_table(index="run_id", columns="step", values="value").dropna(axis=1)
    steps, mean = wide.columns.to_numpy(float), 100 * wide.mean(axis=0).to_numpy()
    above = np.flatnonzero(mean >= PAPER_TEST)
    if not above.size or above[0] == 0:
        sys.exit(f"error: the mean curve never crosses {PAPER_TEST}% from below")
    i = above[0]
    s0, s1, a0, a1 = steps[i - 1], steps[i], mean[i - 1], mean[i]
    step = s0 + (PAPER_TEST - a0) / (a1 - a0) * (s1 - s0)
    print(
        f"# {len(wide)} seeds; mean test accuracy {a0:.2f}% at step {s0:.0f}, "
        f"{a1:.2f}% at step {s1:.0f}: {PAPER_TEST}% at step {step:.1f}",
        file=sys.stderr,
    )
    print(math.ceil(step))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
