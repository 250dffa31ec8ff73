"""Any metric, either direction: a user task whose ``test/err`` (lower is better) and
``test/acc`` (higher is better) rank its two cells in opposite orders. The sweep's best
cell, its run's summary and seeds=auto's verdicts follow ``task.metric`` and ``task.goal``."""

from __future__ import annotations

import textwrap

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import cli, store_uri

# k=1 has the higher accuracy AND the higher error: the two metrics disagree on purpose
TASK = """
def train(cfg, log):
    k, seed = cfg["k"], cfg["seed"]
    acc = 0.80 + 0.10 * k + 0.001 * seed
    err = 0.10 + 0.05 * k + 0.001 * seed
    log.metrics({"test/acc": acc, "test/err": err}, step=1)
    return {"test/acc": acc, "test/err": err}
"""
STUDY = """
# @package _global_
defaults:
  - config
  - _self_

task:
  _target_: opposite.train
  k: 0
"""


def _study(workdir):
    folder = workdir / "study"
    folder.mkdir()
    (folder / "opposite.py").write_text(textwrap.dedent(TASK))
    (folder / "study.yaml").write_text(textwrap.dedent(STUDY))
    return ["-cd", str(folder), "-cn", "study"]


def _sweep_run(workdir, experiment: str):
    client = MlflowClient(store_uri(workdir))
    exp = client.get_experiment_by_name(experiment)
    (run,) = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'sweep'")
    cells = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'cell'")
    return run, cells


@pytest.mark.slow
def test_the_best_cell_follows_the_metric_and_its_goal(workdir):
    study = _study(workdir)
    grid = ["-m", "task.k=0,1", "seed=0,1,2", "report=false"]
    by_err = cli(
        *study, *grid, "task.metric=test/err", "task.goal=min", "experiment_name=err", cwd=workdir
    )
    assert by_err.returncode == 0, by_err.stderr[-3000:]
    assert "best cell task.k=0: test/err 0.101 (lowest mean over seeds)" in by_err.stdout
    by_acc = cli(*study, *grid, "experiment_name=acc", cwd=workdir)
    assert by_acc.returncode == 0, by_acc.stderr[-3000:]
    assert "best cell task.k=1: test/acc 0.9010 (90.10%) (highest mean over seeds)" in by_acc.stdout

    run, cells = _sweep_run(workdir, "err")
    tags, metrics = run.data.tags, run.data.metrics
    assert (tags["ablation.metric"], tags["ablation.goal"]) == ("test/err", "min")
    assert metrics["sweep/best_test_err"] == pytest.approx(0.101)
    assert "sweep/best_test_acc" not in metrics
    assert tags["ablation.best_cell"] == "k=0"  # the cell's label: its fields, no function name
    assert {(c.data.tags["ablation.metric"], c.data.tags["ablation.goal"]) for c in cells} == {
        ("test/err", "min")
    }
    assert not any("task.goal" in c.data.params or "task.metric" in c.data.params for c in cells)
    note = tags["mlflow.note.content"]  # rewritten at the end with what happened
    assert "**Sweep of 6 cells, done in " in note and "6 trained, 0 failed, 0 skipped" in note
    assert "Best cell task.k=0: test/err 0.101 (lowest mean over seeds)." in note
    assert "compared by `test/err` (lower is better: `task.goal=min`)" in note
    acc_run, _ = _sweep_run(workdir, "acc")
    assert acc_run.data.tags["ablation.goal"] == "max"
    assert acc_run.data.metrics["sweep/best_test_acc"] == pytest.approx(0.901)


@pytest.mark.slow
def test_seeds_auto_reads_the_metric_and_lists_cells_best_first_by_the_goal(workdir):
    study = _study(workdir)
    auto = ["seeds=auto", "task.k=0,1", "hydra.sweeper.max_seeds=4", "report=false"]
    by_err = cli(*study, *auto, "task.metric=test/err", "task.goal=min", cwd=workdir)
    assert by_err.returncode == 0, by_err.stderr[-3000:]
    out = by_err.stdout + by_err.stderr
    assert "t-interval of test/err is at most ±2 (in test/err's own units) wide" in out
    verdicts = out.split("seeds=auto verdicts, best test/err first (lower is better):")[1]
    rows = [line.strip() for line in verdicts.strip().splitlines()[:2]]
    assert rows[0].startswith("task.k=0: decided (n=3") and "mean 0.101)" in rows[0], rows
    assert rows[1].startswith("task.k=1: decided (n=3") and "mean 0.151)" in rows[1], rows

    by_acc = cli(*study, *auto, "experiment_name=acc", cwd=workdir)
    assert by_acc.returncode == 0, by_acc.stderr[-3000:]
    out = by_acc.stdout + by_acc.stderr
    verdicts = out.split("seeds=auto verdicts, best test/acc first (higher is better):")[1]
    rows = [line.strip() for line in verdicts.strip().splitlines()[:2]]
    assert rows[0].startswith("task.k=1: decided (n=3") and "mean 90.1%)" in rows[0], rows
