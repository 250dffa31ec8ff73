"""A new sqlite store starts as a copy of an empty one MLflow built before (in the cache).

MLflow builds a store's schema by running each of its migrations; ``client_for`` keeps the
first store it builds, emptied, as a template, and copies it for the next ones. These tests
open real stores with MLflow and check what a copy holds: MLflow's schema, nothing of the
store it came from, and a Default experiment of its own.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ablation import tracking
from ablation.tracking import store as store_module


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("ABLATION_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path / "cache"


def _open_new(folder: Path, monkeypatch) -> tuple[Path, bool]:
    """Open a new store in ``folder`` (also the working directory); whether MLflow built its
    schema by migrations (its ``_initialize_tables`` called, and run as it is)."""
    from mlflow.store.db import utils

    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    calls = []
    build = utils._initialize_tables
    monkeypatch.setattr(utils, "_initialize_tables", lambda engine: calls.append(build(engine)))
    try:
        tracking.client_for(str(folder / "mlruns"))
    finally:
        monkeypatch.setattr(utils, "_initialize_tables", build)
    return folder / "mlruns" / "mlflow.db", bool(calls)


def _rows(db: Path, query: str) -> list[tuple]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def test_the_second_store_is_copied_and_has_its_own_default_experiment(
    cache, tmp_path, monkeypatch
):
    first, built = _open_new(tmp_path / "a", monkeypatch)
    assert built
    template = store_module._template_path()
    assert template.parent.parent == cache and template.is_file()
    assert _rows(template, "select * from experiments") == []

    client = tracking.client_for(str(first.parent))
    exp = tracking.ensure_experiment(client, str(first.parent), "study")
    tracking.start_run(client, exp, name="a run", tags={})

    second, built = _open_new(tmp_path / "b", monkeypatch)
    assert not built, "the second store was built by migrations, not copied"
    assert tracking.sqlite_kind(second) == ("mlflow", store_module.mlflow_schema())
    assert _rows(second, "pragma integrity_check") == [("ok",)]
    # MLflow made the Default experiment on opening the copy: in b's folder, not a's
    assert _rows(second, "select experiment_id, name, artifact_location from experiments") == [
        (0, "Default", str(tmp_path / "b" / "mlruns" / "0"))
    ]
    assert _rows(second, "select count(*) from runs") == [(0,)]
    assert _rows(template, "select * from experiments") == []  # the first store's run: not here


@pytest.mark.parametrize("damage", ["garbage", "old-schema", "holds-an-experiment"])
def test_a_template_that_is_not_an_empty_store_of_this_schema_is_made_again(
    damage, cache, tmp_path, monkeypatch
):
    _open_new(tmp_path / "a", monkeypatch)
    template = store_module._template_path()
    if damage == "garbage":
        template.write_bytes(b"not a database" * 100)
    else:
        con = sqlite3.connect(template)
        with con:
            if damage == "old-schema":
                con.execute("update alembic_version set version_num = '451aebb31d03'")
            else:
                con.execute(
                    "insert into experiments (experiment_id, name, artifact_location, "
                    "lifecycle_stage, workspace) values (7, 'left over', '/x', 'active', 'default')"
                )
        con.close()

    second, built = _open_new(tmp_path / "b", monkeypatch)
    assert built, "a bad template was copied"
    assert _rows(second, "select name from experiments") == [("Default",)]
    assert tracking.sqlite_kind(template) == ("mlflow", store_module.mlflow_schema())
    assert _rows(template, "select * from experiments") == []

    _, built = _open_new(tmp_path / "c", monkeypatch)
    assert not built  # the template made again is used
