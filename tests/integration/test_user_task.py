"""A task of the user's own through the whole framework: the shipped scikit-learn example
swept into a real store, resumed and reported; a task that raises; bad return values."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, cli, report_cli, store_uri
from tests.integration.test_app import children, parents

EXAMPLE = ["-cd", str(REPO / "examples" / "sklearn_sgd"), "-cn", "sgd_digits"]
# 2 alphas x 2 losses x 3 seeds, 8 epochs each: the example's grid, smaller
SMALL = ["task.alpha=1e-4,1e-2", "task.epochs=8"]


@pytest.mark.slow
def test_sklearn_example_is_swept_resumed_and_reported_with_its_own_factors(workdir):
    first = cli(*EXAMPLE, *SMALL, "report=false", cwd=workdir)  # the report is made below
    assert first.returncode == 0, first.stderr[-3000:]
    assert "12 cells, 0 already FINISHED, 12 to run" in first.stdout
    assert first.stdout.count("] done task.alpha=") == 12
    runs = children(workdir, "sgd_digits", status="FINISHED")
    assert len(runs) == 12
    params = {(r.data.params["task.alpha"], r.data.params["task.loss"]) for r in runs}
    assert params == {(a, b) for a in ("0.0001", "0.01") for b in ("hinge", "log_loss")}
    run = runs[0]
    assert run.data.params["task._target_"] == "task.train"
    assert not {"init.name", "optim.lr", "data.n_train"} & set(run.data.params)
    assert 0.8 < run.data.metrics["test/acc"] <= 1.0
    assert {"time/fit_s", "time/total_s"} <= set(run.data.metrics)
    client = MlflowClient(store_uri(workdir))
    history = client.get_metric_history(run.info.run_id, "test/acc")
    assert sorted({m.step for m in history}) == list(range(1, 9))
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.csv", "config.yaml"} <= files

    again = cli(*EXAMPLE, *SMALL, "report=false", cwd=workdir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "all 12 cells already FINISHED; nothing to run" in again.stdout
    assert "done task." not in again.stdout and "Launching" not in again.stdout
    assert len(children(workdir, "sgd_digits", status="FINISHED")) == 12

    out = workdir / "reports"
    report = report_cli("--experiment", "sgd_digits", "--out", str(out), cwd=workdir)
    assert report.returncode == 0, report.stderr[-3000:]
    folder = out / "sgd_digits"
    text = (folder / "report.md").read_text()
    grid = text.split("## Full grid")[1].split("\n## ")[0]
    assert "| task.alpha | task.loss |" in grid
    contrasts = text.split("## Contrasts between factor levels")[1].split("\n## ")[0]
    assert "| task.alpha | 0.01 vs 0.0001 |" in contrasts
    assert "| task.loss | log\\_loss vs hinge |" in contrasts
    assert "| task.alpha × task.loss |" in text  # the ANOVA's interaction term
    summary = pd.read_csv(folder / "summary.csv")
    assert {"task.alpha", "task.loss"} <= set(summary.columns) and len(summary) == 4
    assert (summary["n_seeds"] == 3).all()
    figures = {p.name for p in (folder / "figures").glob("*.png")}
    assert {"learning_curves.png", "accuracy_by_factor.png", "confusion_best.png"} <= figures
    curves = text.split("![Learning curves: test accuracy (%) against the task's logged steps")
    caption = curves[1].split("](figures/learning_curves.png)")[0]
    assert "task.alpha" in caption and "task.loss" in caption  # what varies, named
    # the paper's parts have no inputs here: no Table 3, no per-digit section, no ROC
    assert "Ghimire" not in text and "paper" not in report.stdout.lower()
    assert "## Per class" not in text and "ROC" not in text
    assert not {"roc.png", "per_class_recall.png", "paper_vs_ours.png"} & figures


FAILING_TASK = """
def train(cfg, log):
    for step in range(1, 4):
        log.metric("test/acc", 0.5 + step / 10, step=step)
        log.progress(step, 3)
    if cfg["boom"]:
        raise RuntimeError(f"boom in the user's code (seed {cfg['seed']})")
    return {"test/acc": 0.8}
"""

FAILING_SWEEP = """
# @package _global_
defaults:
  - config
  - _self_
experiment_name: boom
task:
  _target_: boom_task.train
  boom: false
hydra:
  mode: MULTIRUN
  sweeper:
    params:
      task.boom: false,true
"""


def test_a_task_that_raises_is_failed_with_its_traceback_and_the_sweep_goes_on(workdir):
    folder = workdir / "my_study"
    folder.mkdir()
    (folder / "boom_task.py").write_text(textwrap.dedent(FAILING_TASK))
    (folder / "boom.yaml").write_text(FAILING_SWEEP)
    result = cli("-cd", str(folder), "-cn", "boom", cwd=workdir)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "1 cell(s) trained in this sweep, 1 failed" in result.stdout
    assert "FAILED task.boom=True" in result.stdout
    assert "RuntimeError: boom in the user's code (seed 0)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr  # one line, the traceback is stored
    runs = {r.data.params["task.boom"]: r for r in children(workdir, "boom")}
    assert runs["False"].info.status == "FINISHED"
    assert runs["False"].data.metrics["test/acc"] == pytest.approx(0.8)
    failed = runs["True"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["ablation.failure"] == "RuntimeError: boom in the user's code (seed 0)"
    client = MlflowClient(store_uri(workdir))
    error = client.download_artifacts(failed.info.run_id, "error.txt", str(workdir))
    trace = Path(error).read_text()
    assert "Traceback" in trace and 'boom_task.py", line' in trace and "RuntimeError" in trace
    # what it logged before it raised is kept
    assert len(client.get_metric_history(failed.info.run_id, "test/acc")) == 3
    (parent,) = parents(workdir, "boom")
    assert parent.info.status == "FAILED"
    assert "task.boom=True" in parent.data.tags["ablation.failed_cells"]


BAD_RESULTS = """
def no_metric(cfg, log):
    return {"train/acc": 0.9}

def not_a_dict(cfg, log):
    return 0.9

def logged_only(cfg, log):
    log.metrics({"test/acc": 0.7, "train/acc": 0.9}, step=5)
"""


def test_what_a_task_returns_is_checked(workdir, monkeypatch):
    from hydra import compose, initialize_config_dir

    from ablation.config.schema import package_dir, register_configs
    from ablation.run.job import run_cell

    (workdir / "bad_results.py").write_text(BAD_RESULTS)
    monkeypatch.syspath_prepend(str(workdir))
    register_configs()
    uri = store_uri(workdir)
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):

        def run(name):
            overrides = [f"task._target_=bad_results.{name}", f"tracking.uri={uri}"]
            cfg = compose(config_name="config", overrides=overrides)
            return run_cell(cfg, progress=False, raise_on_failure=False)

        missing = run("no_metric")
        assert missing.status == "FAILED"
        assert "neither returned nor logged 'test/acc' (task.metric)" in missing.reason
        assert "train/acc" in missing.reason
        wrong = run("not_a_dict")
        assert wrong.status == "FAILED" and "returned a float; return a dict" in wrong.reason
        logged = run("logged_only")
        assert logged.status == "FINISHED"
        assert logged.metrics["test/acc"] == pytest.approx(0.7)
        again = run("logged_only")
        assert again.status == "SKIPPED" and again.run_id == logged.run_id
    client = MlflowClient(uri)
    assert client.get_run(logged.run_id).data.metrics["train/acc"] == pytest.approx(0.9)
