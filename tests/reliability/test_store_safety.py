"""No silent loss or damage of a store, and no hang on a store that does not answer.

- A store that cannot outlive the process (in-memory sqlite in its many spellings) is
  refused before anything runs: exit 2, one ``error:`` line naming the URI and what to pass
  instead, no stray file.
- A new, empty (0-byte) file becomes a store.
- A file that is not an MLflow store (another sqlite database, garbage, a folder, a
  device) or an MLflow store of another schema is refused by the sweep and the report
  and left byte-identical: MLflow never adds its tables to it nor migrates it.
- The report never writes to a store: the file, its mtime and its folder are unchanged.
- A server that refuses, accepts and stays silent, or answers /health but not the API,
  fails the report and the sweep within seconds, with one line.

Real CLI processes, real files; every store is checked with ``pragma integrity_check``
and the status of every run is compared before and after.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ablation import tracking
from tests import zygote
from tests.reliability.support import TEST_ENV

SWEEP = ["-m", "data=digits", "optim.iterations=5", "experiment_name=study"]
OLD_SCHEMA = "451aebb31d03"  # MLflow's first schema revision


# -- stores and snapshots --------------------------------------------------------------------


def make_mlflow_store(folder: Path) -> Path:
    """A real store (through tracking, as a sweep writes it): study 'study', two cell runs."""
    uri = tracking.resolve_uri(str(folder))
    client = tracking.client_for(uri)
    exp_id = tracking.ensure_experiment(client, uri, "study")
    for seed in (0, 1):
        run_id = tracking.start_run(
            client,
            exp_id,
            name=f"cell seed={seed}",
            tags={tracking.TAG_ROLE: "cell", tracking.TAG_HASH: f"h{seed}"},
        )
        tracking.log_params(
            client, run_id, {"init.name": "kaiming", "seed": seed, "data.name": "digits"}
        )
        buffer = tracking.MetricBuffer(client, run_id)
        for step in range(3):
            buffer.add(step, {"train/acc": 0.5 + 0.1 * step, "test/acc": 0.4 + 0.1 * step})
        buffer.flush()
        client.set_terminated(run_id, "FINISHED")
    return tracking.sqlite_path(uri)


def make_foreign_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    with con:
        con.execute("create table foo (x integer, label text)")
        con.executemany("insert into foo values (?, ?)", [(i, f"row {i}") for i in range(50)])
    con.close()
    return path


def make_old_schema_store(template: Path, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, path)
    con = sqlite3.connect(path)
    with con:
        con.execute("update alembic_version set version_num = ?", (OLD_SCHEMA,))
    con.close()
    return path


def _ro(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def snapshot(path: Path) -> dict:
    """Bytes, mtime, neighbours, integrity and (for MLflow stores) every run's status."""
    state = {"exists": path.exists()}
    if not path.is_file():
        return state
    data = path.read_bytes()
    state |= {
        "sha256": hashlib.sha256(data).hexdigest(),
        "mtime": path.stat().st_mtime_ns,
        "folder": sorted(p.name for p in path.parent.iterdir()),
    }
    if data.startswith(b"SQLite format 3\x00"):
        con = _ro(path)
        try:
            state["integrity"] = con.execute("pragma integrity_check").fetchone()[0]
            tables = {
                r[0] for r in con.execute("select name from sqlite_master where type='table'")
            }
            state["tables"] = sorted(tables)
            if "runs" in tables:
                rows = con.execute("select run_uuid, status, lifecycle_stage from runs").fetchall()
                state["runs"] = sorted(rows)
        finally:
            con.close()
    return state


# -- servers that do not answer ---------------------------------------------------------------


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self):
        self.closed = True
        self.sock.close()
        for conn in self.held:
            conn.close()


class _HealthOnly(http.server.BaseHTTPRequestHandler):
    """Answers /health like an MLflow server; every API call hangs."""

    def do_GET(self):  # noqa: N802
        if self.path.rstrip("/") == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"OK")
            return
        time.sleep(300)

    do_POST = do_GET  # noqa: N815

    def log_message(self, *args):
        pass


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the cases ---------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    args: list[str]  # {case}: the case folder; {silent}, {health}, {closed}: server ports
    message: str  # in the one error line (exit 2); "" for a report that must succeed
    shown: str = ""  # also in the error line: the URI or file it is about
    module: str = "ablation"
    store: str = ""  # the file to snapshot, relative to the case folder
    setup: str = ""  # mlflow | foreign | garbage | old | empty | folder
    seconds: float = 120  # wall-clock bound, Python start and imports included (~20 s loaded)
    expect: int = 2
    writes: bool = False  # the store file may change (a sweep into a new, empty file)


def _report(uri: str) -> list[str]:
    return [
        "--experiment", "study", "--tracking-uri", uri, "--out", "{case}/reports",
        "--no-figures", "--reference", "none",
    ]  # fmt: skip


def _ui(uri: str) -> list[str]:
    return ["--tracking-uri", uri, "--port", "{closed}"]  # refused before it would listen


def _sweep(uri: str, multirun: bool = True) -> list[str]:
    return [*(SWEEP if multirun else SWEEP[1:]), f"tracking.uri='{uri}'"]


EPHEMERAL = [
    ("sqlite://", "in memory"),
    ("sqlite:///", "in memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("sqlite:///file::memory:?cache=shared", "in-memory"),
    ("sqlite:///file:s.db?mode=memory&uri=true", "in-memory"),
    ("sqlite:///{case}/s.db?mode=memory", "in-memory"),
    ("sqlite:///{case}/s.db?mode=ro", "sqlite options"),
    ("file::memory:", "in-memory"),
    (":memory:", "in-memory"),
]
BAD_FILES = [  # setup, store file, message
    ("foreign", "foreign.db", "not an MLflow store"),
    ("garbage", "mlflow.db", "file is not a database"),
    ("old", "mlflow.db", "mlflow db upgrade"),
]
REFUSES = "cannot reach the MLflow server"


def _bad_file_cases(module: str, make_args) -> list[Case]:
    cases = [
        Case(
            f"{module}-{kind}",
            make_args("sqlite:///{case}/" + name),
            why,
            "{case}/" + name,
            module=module,
            store=name,
            setup=kind,
        )
        for kind, name, why in BAD_FILES
    ]
    cases.append(
        Case(
            f"{module}-foreign-in-folder",
            make_args("{case}/dir"),
            "not an MLflow store",
            "{case}/dir/mlflow.db",
            module=module,
            store="dir/mlflow.db",
            setup="foreign",
        )
    )
    return cases


CASES = [
    *(
        Case(f"sweep-memory-{i}", _sweep(uri, multirun=i % 2 == 0), why, repr(uri))
        for i, (uri, why) in enumerate(EPHEMERAL)
    ),
    *(
        Case(f"report-memory-{i}", _report(uri), why, repr(uri), module="ablation.report")
        for i, (uri, why) in enumerate(EPHEMERAL[:4])
    ),
    *_bad_file_cases("ablation", _sweep),
    *_bad_file_cases("ablation.report", _report),
    *_bad_file_cases("ablation.ui", _ui),  # mlflow ui would add its tables to any file
    *(
        Case(f"ui-memory-{i}", _ui(uri), why, repr(uri), module="ablation.ui")
        for i, (uri, why) in enumerate(EPHEMERAL[:3])
    ),
    Case("report-empty-file", _report("{case}/empty.db"), "no MLflow store", "{case}/empty.db",
         module="ablation.report", store="empty.db", setup="empty"),
    Case("sweep-store-is-a-folder", _sweep("sqlite:///{case}/afolder"), "is a folder or device",
         "{case}/afolder", setup="folder"),
    Case("sweep-store-is-dev-null", _sweep("sqlite:////dev/null"), "is a folder or device",
         "/dev/null"),
    Case("sweep-into-empty-file", _sweep("{case}/empty.db"), "", store="empty.db",
         setup="empty", expect=0, writes=True),
    Case("report-reads-only", _report("{case}/store"), "", module="ablation.report",
         store="store/mlflow.db", setup="mlflow", expect=0),
    Case("report-server-refuses", _report("http://127.0.0.1:{closed}"), REFUSES,
         "http://127.0.0.1:{closed}", module="ablation.report", seconds=60),
    Case("report-server-silent", _report("http://127.0.0.1:{silent}"), REFUSES,
         "http://127.0.0.1:{silent}", module="ablation.report", seconds=60),
    Case("sweep-server-silent", _sweep("http://127.0.0.1:{silent}"), REFUSES,
         "http://127.0.0.1:{silent}", seconds=60),
    Case("cell-server-silent", _sweep("http://127.0.0.1:{silent}", multirun=False), REFUSES,
         "http://127.0.0.1:{silent}", seconds=60),
    # /health answers, the API never does: MLflow's requests time out (HTTP_LIMITS["read"])
    Case("report-api-silent", _report("http://127.0.0.1:{health}"), "cannot query experiments",
         "", module="ablation.report", seconds=90),
]  # fmt: skip


@dataclass
class Outcome:
    case: Case
    folder: Path
    result: subprocess.CompletedProcess
    seconds: float
    ports: dict
    before: dict = field(default_factory=dict)
    after: dict = field(default_factory=dict)


def _setup(case: Case, folder: Path, template: Path) -> None:
    target = folder / case.store if case.store else None
    if case.setup == "mlflow":
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(template, target)
    elif case.setup == "foreign":
        make_foreign_db(target)
    elif case.setup == "garbage":
        target.write_bytes(os.urandom(5000))
    elif case.setup == "old":
        make_old_schema_store(template, target)
    elif case.setup == "empty":
        target.write_bytes(b"")
    elif case.setup == "folder":
        (folder / "afolder").mkdir()


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One real MLflow store for the module; tests copy it."""
    return make_mlflow_store(tmp_path_factory.mktemp("template") / "store")


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory, data_cache, template):
    """Run every case (three at a time) once; id -> Outcome."""
    root = tmp_path_factory.mktemp("store-safety")
    silent = SilentServer()
    health = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HealthOnly)
    health.daemon_threads = True
    threading.Thread(target=health.serve_forever, daemon=True).start()
    ports = {"silent": silent.port, "health": health.server_address[1], "closed": _closed_port()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(TEST_ENV, ABLATION_CACHE_DIR=str(data_cache))

    def run(case: Case) -> tuple[str, Outcome]:
        folder = root / case.id
        folder.mkdir()
        _setup(case, folder, template)
        store = folder / case.store if case.store else None
        before = snapshot(store) if store else {}
        args = [a.format(case=folder, **ports) for a in case.args]
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", case.module, *args]
        try:
            result = zygote.run(
                cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300
            )
        except subprocess.TimeoutExpired as hung:  # a hang fails its own case, not the module
            raw = hung.stderr or ""
            text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
            result = subprocess.CompletedProcess(cmd, -9, "", text + "\n(hung: killed at 300 s)")
        seconds = time.monotonic() - t0
        after = snapshot(store) if store else {}
        return case.id, Outcome(case, folder, result, seconds, ports, before, after)

    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            yield dict(pool.map(run, CASES))
    finally:
        silent.close()
        health.shutdown()
        health.server_close()


def test_the_table_covers_every_class():
    ids = {c.id for c in CASES}
    assert sum(c.module == "ablation" for c in CASES) >= 10
    assert sum(c.module == "ablation.report" for c in CASES) >= 10
    assert {"report-reads-only", "report-server-silent", "sweep-server-silent"} <= ids


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_store_is_refused_or_read_and_never_damaged(case, outcomes):
    out = outcomes[case.id]
    output = out.result.stdout + out.result.stderr
    assert out.result.returncode == case.expect, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert out.seconds < case.seconds, f"took {out.seconds:.0f}s: {output[-2000:]}"
    errors = [ln for ln in out.result.stderr.splitlines() if "error:" in ln]
    if case.expect == 2:
        assert len(errors) == 1 and errors[0].startswith("error: "), out.result.stderr[-3000:]
        assert case.message in errors[0], errors[0]
        assert case.shown.format(case=out.folder, **out.ports) in errors[0], errors[0]
    else:
        assert errors == [], out.result.stderr[-3000:]
    strays = [
        p for p in out.folder.rglob("*") if ":memory:" in p.name or p.name.endswith("-journal")
    ]
    assert not strays, strays
    if case.writes:
        assert out.after["integrity"] == "ok" and "experiments" in out.after["tables"]
        assert [status for _, status, _ in out.after["runs"]] == ["FINISHED"] * 2  # parent, cell
    elif case.store:
        assert out.after == out.before, "the store file changed"
    if case.setup == "foreign":
        assert out.after["tables"] == ["foo"] and out.after["integrity"] == "ok"
    if case.setup in ("mlflow", "old"):
        assert out.after["integrity"] == "ok" and len(out.after["runs"]) == 2
    if case.expect == 0 and case.module == "ablation.report":
        assert (out.folder / "reports" / "study" / "report.md").is_file()


# -- in-process checks (fast) --------------------------------------------------------------------


@pytest.mark.slow
def test_reader_and_writer_leave_foreign_and_old_files_byte_identical(tmp_path, template):
    foreign = make_foreign_db(tmp_path / "f" / "mlflow.db")
    old = make_old_schema_store(template, tmp_path / "o" / "mlflow.db")
    for path, message in ((foreign, "not an MLflow store"), (old, "mlflow db upgrade")):
        before = snapshot(path)
        for opener in (tracking.client_for, tracking.open_reader):
            for spelling in (str(path.parent), f"sqlite:///{path}"):
                with pytest.raises(tracking.TrackingError, match=message):
                    opener(spelling)
        assert snapshot(path) == before


@pytest.mark.slow
def test_reader_on_a_real_store_writes_nothing(tmp_path, template, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "s" / "mlflow.db"
    db.parent.mkdir()
    shutil.copy(template, db)
    before = snapshot(db)
    client = tracking.open_reader(str(db.parent))
    exp = client.get_experiment_by_name("study")
    runs = tracking.search(client, exp.experiment_id, f"tags.`{tracking.TAG_ROLE}` = 'cell'")
    assert {tracking.run_config(r)["seed"] for r in runs} == {0, 1}
    assert [m.value for m in client.get_metric_history(runs[0].info.run_id, "train/acc")]
    with pytest.raises(Exception, match="readonly"):
        client.create_experiment("not allowed")
    assert snapshot(db) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no stray 'file:' folder


@pytest.mark.slow
def test_a_silent_server_is_given_up_on_in_seconds():
    """The check itself, without the CLI's start-up: /health times out after 5 s. The three
    openers wait at once (each timed on its own), not one after another."""
    silent = SilentServer()

    def give_up(opener) -> float:
        t0 = time.monotonic()
        with pytest.raises(tracking.TrackingError, match="cannot reach the MLflow server"):
            opener(uri)
        return time.monotonic() - t0

    try:
        uri = f"http://127.0.0.1:{silent.port}"
        openers = (tracking.open_reader, tracking.client_for, tracking.check_store)
        with ThreadPoolExecutor(max_workers=len(openers)) as pool:
            seconds = list(pool.map(give_up, openers))
        assert max(seconds) < 10, seconds
    finally:
        silent.close()


@pytest.mark.parametrize("command", ["sweep", "cell", "report"])
def test_a_wrong_store_file_is_refused_before_mlflow_is_imported(tmp_path, data_cache, command):
    """The refusal costs the user no MLflow import (~1 s; the report's pandas, statsmodels and
    matplotlib, ~1.5 s more): ``-X importtime`` lists every module the process imported."""
    foreign = make_foreign_db(tmp_path / "foreign.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(TEST_ENV, ABLATION_CACHE_DIR=str(data_cache))
    uri = f"sqlite:///{foreign}"
    module, args = {
        "sweep": ("ablation", _sweep(uri)),
        "cell": ("ablation", _sweep(uri, multirun=False)),
        "report": ("ablation.report", [a.format(case=tmp_path) for a in _report(uri)]),
    }[command]
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    assert "not an MLflow store" in result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "ablation" in imported
    assert not {"mlflow", "pandas", "statsmodels", "matplotlib"} & imported
