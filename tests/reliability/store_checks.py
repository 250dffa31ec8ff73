"""Read-only looks at a real sqlite store, without MLflow (cheap enough to poll): its
integrity, and the status and failure tag of every run."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from mlflow.tracking import MlflowClient

from ablation import tracking
from tests.conftest import store_uri
from tests.reliability.support import db_path


def _connect(workdir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db_path(workdir)}?mode=ro", uri=True, timeout=30)


def integrity(workdir: Path) -> str:
    with _connect(workdir) as con:
        return con.execute("pragma integrity_check").fetchone()[0]


def run_table(workdir: Path) -> dict[str, tuple[str, str, str | None]]:
    """run id -> (role, status, ablation.failure tag) for every run ({} without a store)."""
    if not db_path(workdir).exists():
        return {}
    query = """
        select r.run_uuid, coalesce(role.value, ''), r.status, failure.value
        from runs r
        left join tags role on role.run_uuid = r.run_uuid and role.key = 'ablation.role'
        left join tags failure on failure.run_uuid = r.run_uuid
            and failure.key = 'ablation.failure'
    """
    try:
        with _connect(workdir) as con:
            return {rid: (role, status, fail) for rid, role, status, fail in con.execute(query)}
    except sqlite3.OperationalError:  # the schema is still being built
        return {}


def running_cells(workdir: Path) -> int:
    return sum(r == ("cell", "RUNNING") for r in (v[:2] for v in run_table(workdir).values()))


def store_with_an_earlier_run(folder: Path) -> Path:
    """``folder`` as a store that already holds one FINISHED cell run of another study: the
    run every stop or exit path must leave exactly as it was."""
    client = MlflowClient(store_uri(folder))
    exp = client.create_experiment("ablation")
    run = client.create_run(exp, tags={tracking.TAG_ROLE: "cell"}, run_name="earlier")
    client.set_terminated(run.info.run_id, "FINISHED")
    return folder


def seed_store(source: Path, workdir: Path) -> dict:
    """Copy the store of ``source`` into ``workdir``; return its runs (to compare after)."""
    (workdir / "mlruns").mkdir(parents=True, exist_ok=True)
    shutil.copy2(db_path(source), db_path(workdir))
    before = run_table(workdir)
    assert before and integrity(workdir) == "ok"
    return before


def assert_unchanged(before: dict, workdir: Path) -> dict:
    """The runs of ``before`` are as they were; returns the runs added since."""
    after = run_table(workdir)
    assert integrity(workdir) == "ok"
    assert {k: after.get(k) for k in before} == before
    return {k: v for k, v in after.items() if k not in before}
