"""seeds=auto on the digits data: seeds go only to the planted undecided cell, up to the cap.

The plant: 50 full-batch steps from the paper's random init (uniform in [-0.5, 0.5)) leave
digits test accuracy anywhere from 83% to 96% across seeds 0-4 (±13 points after 3 seeds,
±6.8 after 5), while Kaiming's init is within ±1.8 after 3 seeds. With a precision of ±3
points the Kaiming cell is decided in round 1 and the random one never is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli, report_cli, store_uri

PLANT = [
    "seeds=auto",
    "data=digits",
    "init=random,kaiming",
    "optim.iterations=50",
    "hydra.sweeper.max_seeds=5",
    "hydra.sweeper.precision=3",
    "experiment_name=auto",
]


def _runs(workdir, role: str):
    client = MlflowClient(store_uri(workdir))
    exp = client.get_experiment_by_name("auto")
    return client, client.search_runs([exp.experiment_id], f"tags.`ablation.role` = '{role}'")


@pytest.mark.slow
def test_seeds_auto_adds_seeds_only_to_the_undecided_cell_stops_at_the_cap_and_resumes(workdir):
    result = cli(*PLANT, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "first round of seeds=auto, 6 cells" in result.stdout + result.stderr

    client, cells = _runs(workdir, "cell")
    (sweep,) = _runs(workdir, "sweep")[1]
    seeds: dict[str, set[int]] = {}
    for run in cells:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == sweep.info.run_id
        seeds.setdefault(run.data.params["init.name"], set()).add(int(run.data.params["seed"]))
    assert seeds == {"kaiming": {0, 1, 2}, "random": {0, 1, 2, 3, 4}}

    reasons = {
        (r.data.params["init.name"], int(r.data.params["seed"])): r.data.tags[
            "ablation.seed_reason"
        ]
        for r in cells
    }
    assert (
        reasons["kaiming", 0]
        == reasons["random", 2]
        == ("round 1: the first 3 seeds of every cell")
    )
    assert reasons["random", 3].startswith("round 2: init=random inconclusive (n=3, ±")
    assert reasons["random", 4].startswith("round 3: init=random inconclusive (n=4, ±")
    tags = sweep.data.tags
    assert tags["ablation.seeds_auto.decided"] == "1"
    assert tags["ablation.seeds_auto.undecided"] == "1"
    summary = client.download_artifacts(sweep.info.run_id, "seeds_auto.txt", str(workdir))
    text = Path(summary).read_text()
    assert "init=random: inconclusive (n=5" in text and "undecided at max_seeds=5" in text
    assert "init=kaiming: decided (n=3" in text

    # the report counts as added only the seeds run after looking (rounds 2 and 3)
    from ablation.report import build

    md = build(
        "auto", tracking_uri=store_uri(workdir), out_dir=workdir / "rep", make_figures=False
    ).markdown.read_text("utf-8")
    rows = {
        ln.split(" | ")[0].removeprefix("| "): ln for ln in md.splitlines() if ln.startswith("| ")
    }
    assert "| 3 |" in rows["kaiming"] and "added" not in rows["kaiming"], rows["kaiming"]
    assert "| 5 (seeds=auto added 2) |" in rows["random"], rows["random"]

    # the same command again replays the rounds from the store and trains nothing
    again = cli(*PLANT, cwd=workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "0 cell(s) trained in this sweep" in again.stdout + again.stderr
    assert len(_runs(workdir, "cell")[1]) == len(cells) == 8

    # a higher cap goes on where the store stopped: one more seed, for the open cell only
    more = cli(*PLANT[:-3], "hydra.sweeper.max_seeds=6", *PLANT[-2:], cwd=workdir)
    assert more.returncode == 0, more.stderr[-3000:]
    new = {
        (r.data.params["init.name"], int(r.data.params["seed"]))
        for r in _runs(workdir, "cell")[1]
        if r.info.run_id not in {c.info.run_id for c in cells}
    }
    assert new == {("random", 5)}


@pytest.mark.slow
def test_settings_that_cannot_work_stop_the_sweep_before_any_run(workdir):
    result = cli("seeds=auto", "data=digits", "hydra.sweeper.max_seeds=2", cwd=workdir)
    assert result.returncode == 2
    assert "hydra.sweeper.max_seeds=2 is below min_seeds=3" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (workdir / "mlruns").exists() or not MlflowClient(store_uri(workdir)).search_runs(
        [e.experiment_id for e in MlflowClient(store_uri(workdir)).search_experiments()]
    )


@pytest.mark.slow
def test_a_study_crossing_data_seed_with_seed_reports_the_variance_shares(workdir):
    grid = ["-m", "data=digits", "data.n_train=1000", "seed=0,1,2", "data_seed=0,1,2"]
    result = cli(
        *grid, "optim.iterations=30", "experiment_name=shares", "report=false", cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(store_uri(workdir))
    runs = client.search_runs(
        [client.get_experiment_by_name("shares").experiment_id], "tags.`ablation.role` = 'cell'"
    )
    assert len(runs) == 9 and len({r.data.tags["ablation.cell_hash"] for r in runs}) == 1
    # one cell, every (seed, data_seed) pair a run of it
    assert {(r.data.params["seed"], r.data.params["data_seed"]) for r in runs} == {
        (str(s), str(d)) for s in range(3) for d in range(3)
    }
    report = report_cli(
        "--experiment",
        "shares",
        "--tracking-uri",
        store_uri(workdir),
        "--reference",
        "none",
        "--no-figures",
        "--out",
        str(workdir / "reports"),
        cwd=workdir,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    text = (workdir / "reports" / "shares" / "report.md").read_text()
    assert "Where the spread over seeds comes from" in text
    assert "from the training subset" in text and "(9 runs in 1 cell(s))" in text
    assert "| data_seed |" not in text  # a seed, not a factor of the grid
