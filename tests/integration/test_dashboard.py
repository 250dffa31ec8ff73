"""The MLflow UI as a sweep's dashboard: what a real sweep leaves in a real store.

The sweep's parent run carries a description, the grid as params, summary metrics and the
report; cell runs have short names, one per-class table and only the params that apply;
a rerun with nothing to do creates nothing. Plus the pure parts: run names, the ETA.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from mlflow.tracking import MlflowClient

from ablation.cell.cell import Cell, varying_keys
from ablation.config.schema import package_dir, register_configs
from ablation.run.progress import cost_kind, decode_kinds, encode_kinds, eta_seconds
from tests.conftest import cli

ENV = {"PYTHONUNBUFFERED": "1", "ABLATION_BLAS_THREADS": "1", "MLFLOW_TRACKING_URI": ""}
GRID = ["-m", "data=digits", "init=random,kaiming", "seed=0,1", "optim.iterations=5"]
RERUN_LINE = "all 4 cells already FINISHED; nothing to run (rerun=true trains again)"

register_configs()


def _runs(uri: str, experiment: str, role: str) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], f"tags.`ablation.role` = '{role}'")


def _artifacts(uri: str, run_id: str, path: str | None = None) -> set[str]:
    return {a.path for a in MlflowClient(uri).list_artifacts(run_id, path)}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    """A 4-cell sweep, then the same command again (nothing to do), in one real store."""
    work = tmp_path_factory.mktemp("dashboard")
    uri = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    first = cli(*GRID, f"tracking.uri={uri}", cwd=work, env=ENV)
    assert first.returncode == 0, first.stdout + first.stderr
    again = cli(*GRID, f"tracking.uri={uri}", cwd=work, env=ENV)
    return {"work": work, "uri": uri, "first": first, "again": again}


@pytest.mark.slow
def test_parent_run_describes_the_sweep_and_holds_its_report(store):
    uri = store["uri"]
    (parent,) = _runs(uri, "ablation", "sweep")
    tags, params, metrics = parent.data.tags, parent.data.params, parent.data.metrics
    note = tags["mlflow.note.content"]
    assert "python -m ablation -m data=digits init=random,kaiming seed=0,1" in note
    assert "| init | random, kaiming |" in note and "| seed | 0, 1 |" in note
    assert "fraction in [0, 1]" in note
    assert params["grid.init"] == "random,kaiming" and params["grid.seed"] == "0,1"
    assert params["grid.cells"] == "4"
    assert parent.info.run_name.startswith("sweep init x seed ")
    assert metrics["sweep/cells_finished"] == 4
    assert metrics["sweep/cells_failed"] == 0 and metrics["sweep/cells_skipped"] == 0

    cells = _runs(uri, "ablation", "cell")
    by_cell: dict[str, list[float]] = {}
    for run in cells:
        by_cell.setdefault(run.data.tags["ablation.cell"], []).append(run.data.metrics["test/acc"])
    means = {cell: sum(v) / len(v) for cell, v in by_cell.items()}
    best = max(means, key=means.get)
    assert metrics["sweep/best_test_acc"] == pytest.approx(means[best])
    assert tags["ablation.best_cell"] == best

    files = _artifacts(uri, parent.info.run_id)
    assert {"report.html", "report.md", "summary.csv", "figures"} <= files
    figures = _artifacts(uri, parent.info.run_id, "figures")
    assert "figures/learning_curves.png" in figures and "figures/per_class_recall.png" in figures
    assert "paper_vs_ours.csv" not in files  # digits cells: no paper cell, no paper section
    client = MlflowClient(uri)
    summary = Path(client.download_artifacts(parent.info.run_id, "summary.csv", str(store["work"])))
    rows = list(csv.DictReader(io.StringIO(summary.read_text())))
    assert sorted(r["init"] for r in rows) == ["kaiming", "random"]
    assert all(r["n_seeds"] == "2" for r in rows)
    html = Path(client.download_artifacts(parent.info.run_id, "report.html", str(store["work"])))
    text = html.read_text()
    assert "Per-digit test recall" in text and "fractions in [0, 1]" in text
    assert (
        "sweep done: 4 cell(s) trained in this sweep, 0 failed; best cell" in store["first"].stdout
    )


@pytest.mark.slow
def test_cell_runs_have_short_names_a_per_class_table_and_only_params_that_apply(store):
    uri = store["uri"]
    cells = _runs(uri, "ablation", "cell")
    names = sorted(r.info.run_name for r in cells)
    assert names == ["kaiming s0", "kaiming s1", "random s0", "random s1"]
    client = MlflowClient(uri)
    for run in cells:
        assert run.data.tags["ablation.cell"].startswith("init=")  # the full label stays
        metrics, params = run.data.metrics, run.data.params
        assert not [k for k in metrics if k.startswith(("test/recall_", "test/precision_"))]
        assert not {"optim.beta1", "optim.beta2", "optim.momentum"} & set(params)
        assert not {"optim.epochs", "optim.batch_size", "report"} & set(params)
        assert "per_class.csv" in _artifacts(uri, run.info.run_id)
        got = client.download_artifacts(run.info.run_id, "per_class.csv", str(store["work"]))
        table = list(csv.DictReader(io.StringIO(Path(got).read_text())))
        assert list(table[0]) == ["class", "support", "recall", "precision", "f1"]
        assert [int(r["class"]) for r in table] == list(range(10))
        recalls = [float(r["recall"]) for r in table]
        assert all(0.0 <= v <= 1.0 for v in recalls)
        assert metrics["test/min_class_recall"] == pytest.approx(min(recalls), abs=1e-6)
        n_test = sum(int(r["support"]) for r in table)
        correct = sum(float(r["recall"]) * int(r["support"]) for r in table)
        assert correct / n_test == pytest.approx(metrics["test/acc"], abs=1e-4)


@pytest.mark.slow
def test_a_rerun_with_nothing_to_do_creates_no_run_and_launches_nothing(store):
    again = store["again"]
    assert again.returncode == 0, again.stdout + again.stderr
    out = again.stdout + again.stderr
    assert RERUN_LINE in out
    assert "Launching" not in out and "parent run" not in out
    assert len(_runs(store["uri"], "ablation", "sweep")) == 1
    assert len(_runs(store["uri"], "ablation", "cell")) == 4


@pytest.mark.slow
def test_a_partial_rerun_reports_the_whole_grid_and_report_false_logs_none(store):
    work, uri = store["work"], store["uri"]
    grid = [*GRID[:3], "seed=0,1,2", GRID[4]]
    done = cli(*grid, f"tracking.uri={uri}", cwd=work, env=ENV)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 cells, 4 already FINISHED, 2 to run" in done.stdout
    assert "Launching 2 jobs locally" in done.stdout + done.stderr  # not the 4 done ones
    newest = max(_runs(uri, "ablation", "sweep"), key=lambda r: r.info.start_time)
    metrics = newest.data.metrics
    assert metrics["sweep/cells_finished"] == 2 and metrics["sweep/cells_skipped"] == 4
    client = MlflowClient(uri)
    got = client.download_artifacts(newest.info.run_id, "summary.csv", str(work / "partial"))
    rows = list(csv.DictReader(io.StringIO(Path(got).read_text())))
    assert all(r["n_seeds"] == "3" for r in rows), rows  # cells of earlier sweeps too

    off = cli(
        *GRID, "experiment_name=quiet", "report=false", f"tracking.uri={uri}", cwd=work, env=ENV
    )
    assert off.returncode == 0, off.stdout + off.stderr
    (parent,) = _runs(uri, "quiet", "sweep")
    assert _artifacts(uri, parent.info.run_id) == set()
    assert parent.data.metrics["sweep/cells_finished"] == 4
    assert "report logged" not in off.stdout + off.stderr


def test_cfg_and_help_show_resolved_values(tmp_path):
    cfg = cli("--cfg", "job", "depth=3", cwd=tmp_path)
    assert cfg.returncode == 0, cfg.stderr
    assert "${" not in cfg.stdout
    assert "hidden:\n  - 200\n  - 100\n  - 20" in cfg.stdout
    shown = cli("--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "${" not in shown.stdout and "  - 200\n  - 20\n" in shown.stdout
    assert "python -m ablation -m init=random,kaiming" in shown.stdout


@pytest.fixture(scope="module")
def cell_of():
    with initialize_config_dir(config_dir=str(package_dir("conf")), version_base="1.3"):
        yield lambda *o: Cell.from_config(compose(config_name="config", overrides=list(o)), o)


def test_run_names_lead_with_what_varies_and_are_distinct(cell_of):
    grid = [
        cell_of(f"init={i}", f"reg={r}", f"data={d}", "seed=3")
        for i in ("random", "kaiming")
        for r in ("none", "l2")
        for d in ("42k", "60k")
    ]
    varies = varying_keys(grid)
    assert varies == ["init", "reg", "data"]  # reg.l2 follows reg: not shown again
    names = [c.short_name(varies) for c in grid]
    assert "kaiming l2 60k s3" in names and len(set(names)) == len(names)
    assert max(map(len, names)) <= 20
    mixed = [cell_of("optim=gd", "optim.lr=0.01"), cell_of("optim=adam"), cell_of("optim=gd")]
    varies = varying_keys(mixed)
    assert varies == ["optim", "optim.lr"]  # epochs etc. follow optim; lr does not
    assert [c.short_name(varies) for c in mixed] == [
        "gd lr=0.01 s0",
        "adam lr=0.001 s0",
        "gd lr=0.3 s0",
    ]
    # a single run: what the user typed, then the seed; nothing typed: every factor
    assert cell_of("data=digits", "optim.iterations=5", "tracking.uri=x").short_name() == (
        "digits iterations=5 s0"
    )
    assert cell_of().short_name() == "kaiming none 60k d2 gd s0"
    assert cell_of("table3=random_l2_42k", "seed=2").short_name() == "random l2 42k s2"


def test_eta_uses_the_median_of_finished_cells_of_each_kind():
    assert eta_seconds([], {"gd": 3}, 1) is None
    # two gd cells took 10s and 30s (median 20): 3 more take 60s on one worker
    assert eta_seconds([("gd", 10.0), ("gd", 30.0)], {"gd": 3}, 1) == 60.0
    # it corrects itself: a slow machine's cells make the estimate grow
    assert eta_seconds([("gd", 10.0), ("gd", 30.0), ("gd", 90.0)], {"gd": 3}, 1) == 90.0
    # a kind with no finished cell yet borrows the median of all finished cells
    assert eta_seconds([("gd", 20.0), ("adam", 4.0)], {"adam": 2, "sgd": 1}, 1) == 8.0 + 12.0
    # shared over workers, but never below the longest single cell left
    assert eta_seconds([("gd", 20.0)], {"gd": 4}, 2) == 40.0
    assert eta_seconds([("gd", 20.0)], {"gd": 1}, 4) == 20.0
    assert eta_seconds([("gd", 20.0)], {"gd": 0}, 1) == 0.0
    # a kind not seen yet is scaled by its work from the kinds seen (paper_depth: 56 steps
    # then 300; the estimate was 56-step times for all, 5x too short)
    short, long = "gd/mnist/42000/1/56/None", "gd/mnist/42000/1/300/None"
    assert eta_seconds([(short, 10.0)], {long: 3}, 1) == pytest.approx(3 * 10.0 * 300 / 56)
    more_data = "gd/mnist/None/1/56/None"  # data.n_train unset: the full 60,000
    assert eta_seconds([(short, 10.0)], {more_data: 1}, 1) == pytest.approx(10.0 * 60 / 42)
    # the same optimiser's kinds are preferred: sgd epochs from sgd, not from gd steps
    sgd5, sgd20 = "sgd/mnist/None/2/None/5", "sgd/mnist/None/2/None/20"
    assert eta_seconds([(short, 10.0), (sgd5, 8.0)], {sgd20: 1}, 1) == pytest.approx(32.0)


def test_cost_kinds_round_trip_through_env_set(cell_of):
    cells = [cell_of("optim=gd"), cell_of("optim=gd", "seed=1"), cell_of("optim=adam")]
    kinds = [cost_kind(c.params) for c in cells]
    assert kinds[0] == kinds[1] != kinds[2]
    assert decode_kinds(encode_kinds(kinds)) == {kinds[0]: 2, kinds[2]: 1}
    logged = {k: str(v) for k, v in cells[0].params.items()}  # MLflow params are strings
    assert cost_kind(logged) == kinds[0]
