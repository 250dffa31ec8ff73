"""The app end to end: Hydra grid -> real MLflow sqlite store, resume, concurrency, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from tests import zygote
from tests.conftest import FAILING_SWEEP, cli, store_uri

PAPER_GRID = ["-m", "init=random,kaiming", "reg=none,l2", "data=42k,60k"]
# no sweep-end report: these tests are about cells, resume and concurrency (the report a
# sweep logs is tested in test_dashboard.py); it costs ~3 s of CPU per sweep
FAST = ["optim.iterations=2", "optim.eval_every=1", "report=false"]


def children(workdir, experiment="ablation", status=None):
    client = MlflowClient(store_uri(workdir))
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} not in store"
    runs = client.search_runs(
        [exp.experiment_id],
        "tags.`ablation.role` = 'cell'",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=1000,
    )
    return [r for r in runs if status is None or r.info.status == status]


def parents(workdir, experiment="ablation"):
    client = MlflowClient(store_uri(workdir))
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'sweep'")


@pytest.mark.slow
def test_paper_grid_creates_eight_finished_children_with_everything(workdir):
    result = cli(*PAPER_GRID, *FAST, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "8 cells, 0 already FINISHED, 8 to run" in result.stdout
    assert result.stdout.count("done init=") == 8

    runs = children(workdir, status="FINISHED")
    assert len(runs) == 8
    (parent,) = parents(workdir)
    assert parent.info.status == "FINISHED"
    client = MlflowClient(store_uri(workdir))
    cells = set()
    for run in runs:
        params, tags, metrics = run.data.params, run.data.tags, run.data.metrics
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert len(tags["ablation.config_hash"]) == 16
        assert len(tags["ablation.data_checksum"]) == 64
        assert "ablation.git_commit" in tags
        assert tags["ablation.overrides"].startswith("init=")
        cells.add((params["init.name"], params["reg.name"], params["data.n_train"]))
        assert params["model.hidden"] == "[200, 20]"
        assert params["optim.name"] == "gd" and params["optim.iterations"] == "2"
        for key in (
            "train/loss",
            "train/acc",
            "test/acc",
            "test/loss",
            "test/min_class_recall",
            "time/fit_s",
            "time/total_s",
        ):
            assert key in metrics, key
        assert 0.0 <= metrics["test/acc"] <= 1.0
        assert not [k for k in metrics if k.startswith(("test/recall_", "test/precision_"))]
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")]
        assert steps == [0, 1, 2]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {
            "config.yaml",
            "confusion_matrix.csv",
            "confusion_matrix.png",
            "per_class.csv",
            "learning_curve.png",
            "weights.npz",
        } <= artifacts
    assert cells == {
        (i, r, n) for i in ("random", "kaiming") for r in ("none", "l2") for n in ("42000", "60000")
    }


def test_default_launcher_runs_gd_cells_in_turn_and_minibatch_cells_side_by_side(workdir):
    cores = os.cpu_count() or 1
    default = {"ABLATION_BLAS_THREADS": ""}  # the user's default (the suite sets 1: conftest)
    gd = cli(
        "-m", "seed=0,1,2", "data=digits", *FAST, "experiment_name=gd", cwd=workdir, env=default
    )
    assert gd.returncode == 0, gd.stderr[-3000:]
    assert "3 to run one at a time, each on every core" in gd.stdout
    assert gd.stdout.count("done seed=") == 3 and "#0 : " not in gd.stdout + gd.stderr
    runs = children(workdir, "gd", status="FINISHED")
    assert len(runs) == 3
    assert len({r.data.tags["ablation.pid"] for r in runs}) == 1  # the sweep's own process
    for run in runs:  # full batch: one Python thread per core, one BLAS thread each
        assert run.data.tags["ablation.threads"] == str(cores)
        assert run.data.tags["ablation.blas_threads"] == "1"

    mini = ["optim=adam", "optim.epochs=1", "optim.batch_size=512", "optim.eval_every=1"]
    result = cli(
        "-m", "seed=0,1,2", "data=digits", *mini, "experiment_name=mini", cwd=workdir, env=default
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"3 to run {min(cores, 3)} at a time" in result.stdout or cores == 1
    runs = children(workdir, "mini", status="FINISHED")
    assert len(runs) == 3
    assert not {r.data.tags["ablation.pid"] for r in runs} & {str(os.getpid())}
    for run in runs:  # minibatch, side by side: one thread and one BLAS thread per cell
        assert run.data.tags["ablation.threads"] == "1"
        assert run.data.tags["ablation.blas_threads"] == "1"


def test_resume_skips_finished_and_completes_deleted(workdir):
    grid = ["-m", "data=digits", "init=random,kaiming", "seed=0,1", *FAST]
    assert cli(*grid, cwd=workdir).returncode == 0
    first = {r.info.run_id for r in children(workdir)}
    assert len(first) == 4

    again = cli(*grid, cwd=workdir)
    assert again.returncode == 0, again.stderr[-2000:]
    # nothing to do: said in one line, no job launched, no run created (issue 17)
    assert "all 4 cells already FINISHED; nothing to run" in again.stdout
    assert "Launching" not in again.stdout + again.stderr
    assert {r.info.run_id for r in children(workdir)} == first

    client = MlflowClient(store_uri(workdir))
    deleted = sorted(first)[:2]
    for run_id in deleted:
        client.delete_run(run_id)
    third = cli(*grid, cwd=workdir)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "2 already FINISHED, 2 to run" in third.stdout
    assert "Launching 2 jobs" in third.stdout + third.stderr  # the finished ones are not
    now = children(workdir, status="FINISHED")
    assert len(now) == 4
    assert len({r.data.tags["ablation.config_hash"] for r in now}) == 4
    assert {r.info.run_id for r in now} >= first - set(deleted)


def test_rerun_true_trains_again(workdir):
    args = ["data=digits", *FAST]
    assert cli(*args, cwd=workdir).returncode == 0
    assert cli(*args, "rerun=true", cwd=workdir).returncode == 0
    runs = children(workdir, status="FINISHED")
    assert len(runs) == 2
    assert len({r.data.tags["ablation.config_hash"] for r in runs}) == 1


def test_two_sweeps_into_one_fresh_store_at_once(workdir):
    base = [sys.executable, "-m", "ablation", "-m", "data=digits", *FAST]
    sweeps = [
        ["init=random,kaiming", "experiment_name=one"],
        ["init=random,kaiming,xavier", "experiment_name=two"],
    ]
    procs = [
        zygote.Popen(
            [*base, *args], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in sweeps
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    assert len(children(workdir, "one", "FINISHED")) == 2
    assert len(children(workdir, "two", "FINISHED")) == 3


def test_overlapping_sweeps_train_each_cell_once(workdir):
    base = [
        sys.executable,
        "-m",
        "ablation",
        "-m",
        "data=digits",
        "init=random,kaiming,xavier",
        "optim.iterations=20",
    ]
    procs = [
        subprocess.Popen(
            base, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    for proc, (_out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-3000:]
    runs = children(workdir, status="FINISHED")
    hashes = [r.data.tags["ablation.config_hash"] for r in runs]
    assert len(hashes) == 3 and len(set(hashes)) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["init=kaimng"], "kaimng"),
        (["optim.lr=-0.1"], "optim.lr=-0.1"),
        (["optim.lr=abc"], "optim.lr"),
        (["data.n_train=70000"], "data.n_train=70000"),
        (["reg=l2", "reg.l2=-1"], "reg.l2=-1"),
        (["-m", "init=random,kaimng"], "kaimng"),
        (["-m", "seed=0,1", "optim.lr=0"], "optim.lr=0"),
        (["data=mnist_idx", "data.path=/nonexistent/idx"], "/nonexistent/idx"),
    ],
)
def test_invalid_input_exits_nonzero_and_creates_no_run(workdir, args, message):
    result = cli(*args, cwd=workdir)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    db = workdir / "mlruns" / "mlflow.db"
    if db.exists():
        client = MlflowClient(store_uri(workdir))
        for exp in client.search_experiments():
            assert not client.search_runs([exp.experiment_id])


def test_failing_cell_is_marked_failed_and_sweep_goes_on(workdir):
    result = cli(*FAILING_SWEEP, cwd=workdir)
    assert result.returncode == 1
    assert "FAILED" in result.stdout and "optim.lr=10000.0" in result.stdout
    runs = children(workdir)
    status = {r.data.params["optim.lr"]: r for r in runs}
    assert status["0.01"].info.status == "FINISHED"
    failed = status["10000.0"]
    assert failed.info.status == "FAILED"
    assert "diverged" in failed.data.tags["ablation.failure"]
    client = MlflowClient(store_uri(workdir))
    assert "error.txt" in {a.path for a in client.list_artifacts(failed.info.run_id)}
    (parent,) = parents(workdir)
    assert parent.info.status == "FAILED"
    assert "optim.lr=10000.0" in parent.data.tags["ablation.failed_cells"]
