"""The weight decay per minibatch optimiser, chosen on the validation split (read-only).

For each optimiser of the `weight_decay` study, the reg.wd with the highest mean final
validation accuracy over seeds (ties: the smaller wd). Prints one line per optimiser,
`<optimiser> <wd>`, and the table behind the choice on stderr. The test set is not read.
    python docs/results/weight_decay_choice.py sqlite:///$PWD/mlruns/mlflow.db
"""

from __future__ import annotations

import sys

from ablation.report.runs import fetch_runs, find_experiment, open_client


def main(uri: str) -> int:
    client = open_client(uri)
    runs = fetch_runs(client, find_experiment(client, "weight_decay"))
    runs = runs[runs["status"].eq("FINISHED")].copy()
    runs["optim"] = [p["optim.name"] for p in runs["params"]]
    runs["wd"] = [float(p.get("reg.wd", 0.0)) for p in runs["params"]]
    table = runs.groupby(["optim", "wd"])["val_acc"].agg(["mean", "min", "max", "count"])
    print(table.round(2).to_string(), file=sys.stderr)
    for optim, rows in table.reset_index().groupby("optim", sort=False):
        best = rows.sort_values(["mean", "wd"], ascending=[False, True]).iloc[0]
        print(f"{optim} {best['wd']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
