"""One URI resolver: the same text means the same store for the sweep, the report and the UI.

Fast tests of ``ablation.tracking.uri`` (no MLflow); one slow end-to-end test: a real
sweep into ``tracking.uri=DIR``, then ``python -m ablation.report --tracking-uri DIR``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from ablation import tracking
from ablation.tracking import TrackingError, check_uri, resolve_uri, sqlite_path
from tests.conftest import cli


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """A fresh working directory and home (for '~'), no MLFLOW_TRACKING_URI."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_every_spelling_of_a_folder_is_one_sqlite_store(cwd):
    (cwd / "home").mkdir()
    store = f"sqlite:///{cwd / 'runs' / 'mlflow.db'}"
    spellings = [
        "runs",
        "runs/",
        "./runs",
        "sub/../runs",
        str(cwd / "runs"),
        "runs/mlflow.db",
        str(cwd / "runs" / "mlflow.db"),
        "sqlite:///runs/mlflow.db",
        f"sqlite:///{cwd}/runs/mlflow.db",
        f"sqlite:///{cwd}/runs/./mlflow.db",
    ]
    for text in spellings:
        assert resolve_uri(text) == store, text
    home_store = f"sqlite:///{cwd / 'home' / 'runs' / 'mlflow.db'}"
    assert resolve_uri("~/runs") == home_store
    assert resolve_uri("sqlite:///~/runs/mlflow.db") == home_store


def test_default_and_environment(cwd, monkeypatch):
    assert resolve_uri(None) == f"sqlite:///{cwd / 'mlruns' / 'mlflow.db'}"
    assert resolve_uri("") == resolve_uri(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "elsewhere")
    assert resolve_uri(None) == f"sqlite:///{cwd / 'elsewhere' / 'mlflow.db'}"
    assert resolve_uri("given") == f"sqlite:///{cwd / 'given' / 'mlflow.db'}"  # arg wins


def test_files_folders_and_other_schemes(cwd):
    (cwd / "existing.store").write_bytes(b"")
    (cwd / "folder.db").mkdir()
    assert resolve_uri("existing.store") == f"sqlite:///{cwd / 'existing.store'}"
    assert resolve_uri("new.sqlite") == f"sqlite:///{cwd / 'new.sqlite'}"
    assert resolve_uri("folder.db") == f"sqlite:///{cwd / 'folder.db' / 'mlflow.db'}"
    assert resolve_uri("results:v2") == f"sqlite:///{cwd / 'results:v2' / 'mlflow.db'}"
    assert resolve_uri("file:fs") == (cwd / "fs").as_uri()
    assert resolve_uri("file:~/fs") == (cwd / "home" / "fs").as_uri()
    assert resolve_uri(f"file://{cwd}/fs") == (cwd / "fs").as_uri()
    for remote in ("http://127.0.0.1:5000", "https://h/x", "postgresql://u@h/db", "databricks"):
        assert resolve_uri(remote) == remote


@pytest.mark.parametrize(
    "text",
    ["runs", "~/runs", "sqlite:///rel.db", "file:fs", "x.db", "sqlite:///:memory:", "sqlite://"],
)
def test_resolving_twice_changes_nothing(cwd, text):
    once = resolve_uri(text)
    assert resolve_uri(once) == once


def test_sqlite_path_only_for_canonical_files(cwd):
    assert sqlite_path(resolve_uri("runs")) == cwd / "runs" / "mlflow.db"
    for uri in ("sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite:///rel.db", "http://h"):
        assert sqlite_path(uri) is None, uri
    assert sqlite_path("sqlite:////abs/x.db?mode=memory") is None


EPHEMERAL_OR_UNPLACEABLE = [
    ("sqlite://", "in memory"),
    ("sqlite:", "in memory"),
    ("sqlite:///", "in memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("sqlite:////tmp/x/:memory:", "in-memory"),
    (":memory:", "in-memory"),
    ("file::memory:", "in-memory"),
    ("sqlite:///file::memory:?cache=shared", "in-memory"),
    ("sqlite:///file:x.db?mode=memory&uri=true", "in-memory"),
    ("sqlite:////tmp/x.db?mode=memory&cache=shared", "in-memory"),
    ("sqlite:////tmp/x.db?mode=ro", "sqlite options"),
    ("sqlite:///file:/tmp/x.db?uri=true", "sqlite options"),
    ("sqlite+pysqlite:////tmp/x.db", "driver"),
    ("sqlite+pysqlite://", "driver"),
    ("file:", "no local folder"),
    ("file://otherhost/x", "no local folder"),
    ("nosuch://store", "unknown scheme"),
    ("memory://x", "unknown scheme"),
]


@pytest.mark.parametrize("uri,why", EPHEMERAL_OR_UNPLACEABLE)
def test_stores_that_cannot_outlive_the_process_are_refused(cwd, uri, why):
    with pytest.raises(TrackingError) as err:
        check_uri(resolve_uri(uri))
    message = str(err.value)
    assert why in message and repr(uri) in message and "\n" not in message
    assert "sqlite:////abs/path/mlflow.db" in message  # says what to pass instead
    with pytest.raises(TrackingError):  # the sweep's own check refuses before touching disk
        tracking.check_store(resolve_uri(uri))
    assert sorted(p.name for p in cwd.iterdir()) == [], "a refused URI left files behind"


@pytest.mark.parametrize(
    "uri", ["runs", "sqlite:///rel.db", "file:fs", "http://127.0.0.1:1", "postgresql://u@h/db"]
)
def test_stores_that_persist_pass_the_uri_check(cwd, uri):
    check_uri(resolve_uri(uri))


def test_sqlite_kind_reads_without_writing(tmp_path):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("create table foo (x)")
    con.close()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(3000))
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (other, garbage, empty)}
    assert tracking.sqlite_kind(tmp_path / "absent.db") == ("new", "")
    assert tracking.sqlite_kind(empty) == ("new", "")
    assert tracking.sqlite_kind(other) == ("other", "foo")
    assert tracking.sqlite_kind(garbage)[0] == "not-sqlite"
    assert tracking.sqlite_kind(tmp_path)[0] == "not-a-file"
    assert before == {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db", "garbage.db", "other.db"]


def test_typed_config_read_back_from_params_when_no_json_tag():
    params = {
        "data.n_train": "None",
        "optim.lr": "0.1",
        "seed": "3",
        "model.hidden": "[200, 20]",
        "model.activations": "['leaky_relu', 'tanh']",
        "rerun": "False",
        "init.name": "kaiming",
    }
    assert tracking.config_from_params(params) == {
        "data.n_train": None,
        "optim.lr": 0.1,
        "seed": 3,
        "model.hidden": [200, 20],
        "model.activations": ["leaky_relu", "tanh"],
        "rerun": False,
        "init.name": "kaiming",
    }


@pytest.mark.slow
def test_a_sweep_into_a_folder_is_found_by_report_and_ui_with_the_same_folder(workdir, monkeypatch):
    """``tracking.uri=DIR`` (sweep), ``--tracking-uri DIR`` (report) and the UI's resolver
    name one store; the report reads the typed config the sweep logged."""
    from ablation import ui
    from ablation.report.runs import fetch_runs, find_experiment, open_client

    sweep = cli(
        "-m", "data=digits", "optim.iterations=5", "tracking.uri=store", "experiment_name=one",
        "report=false", cwd=workdir, env={"ABLATION_BLAS_THREADS": "1"},
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    db = workdir / "store" / "mlflow.db"
    assert db.is_file() and not (workdir / "mlruns").exists()

    report = cli(
        "--experiment", "one", "--tracking-uri", "store", "--out", "reports",
        "--no-figures", "--reference", "none",
        module="ablation.report", cwd=workdir,
    )  # fmt: skip
    assert report.returncode == 0, report.stderr[-3000:]
    assert (workdir / "reports" / "one" / "report.md").is_file()

    monkeypatch.chdir(workdir)
    uri = resolve_uri("store")
    assert uri == f"sqlite:///{db}" == ui.resolve_uri("store")
    assert ui.resolve_uri is tracking.resolve_uri  # the UI has no resolver of its own
    for spelling in ("./store/", str(workdir / "store"), "sqlite:///store/mlflow.db", uri):
        assert resolve_uri(spelling) == uri
    client = open_client("store")
    runs = fetch_runs(client, find_experiment(client, "one"))
    (run,) = runs.itertuples()
    assert run.status == "FINISHED"
    assert run.config["data.name"] == "digits" and run.config["optim.iterations"] == 5
    assert run.config["data.n_train"] is None and isinstance(run.config["model.hidden"], list)
    exp = tracking.open_reader(uri).get_experiment_by_name("one")
    assert exp.tags[tracking.TAG_EXPERIMENT_KIND] == tracking.EXPERIMENT_KIND
