"""Report writes: a report that fails part-way (disk full, file-size limit) leaves the
previous good report and its figures as they were; ``--out`` naming a file is one line.

The report is built in a hidden folder beside the target and moved into place only when
every file is complete. The faults are real: ``RLIMIT_FSIZE`` on the report process
(SIGXFSZ ignored, so writes fail with EFBIG as on a full disk, instead of killing it).
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests import zygote
from tests.conftest import cli
from tests.reliability.support import TEST_ENV, runs

# report=false: every test makes its own report of this store
SWEEP = [
    "-m",
    "data=digits",
    "init=random,kaiming",
    "optim.iterations=5",
    "optim.eval_every=1",
    "report=false",
]


@pytest.fixture(scope="module")
def study(tmp_path_factory, data_cache) -> Path:
    """One real store, made by a tiny real sweep, shared by the tests of this file."""
    work = tmp_path_factory.mktemp("report-writes")
    env = {**TEST_ENV, "ABLATION_CACHE_DIR": str(data_cache), "MLFLOW_TRACKING_URI": ""}
    done = cli(*SWEEP, cwd=work, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return work


def _report(work: Path, out: Path | str, *extra: str, fsize: int | None = None):
    """``python -m ablation.report`` on the study's store, optionally under a file-size limit."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return zygote.run(
        [sys.executable, "-m", "ablation.report", "--experiment", "ablation", "--out", str(out)]
        + list(extra),
        cwd=work,
        env={**os.environ, **TEST_ENV, "MLFLOW_TRACKING_URI": ""},
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=limit if fsize else None,
    )


def _snapshot(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder``, hidden ones included, by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _store_state(work: Path) -> tuple[str, list]:
    db = work / "mlruns" / "mlflow.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        integrity = con.execute("pragma integrity_check").fetchone()[0]
    return integrity, sorted((r.info.run_id, r.info.status) for r in runs(work))


def _one_error_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr + done.stdout, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr[-3000:]
    return errors[0]


@pytest.mark.slow
@pytest.mark.parametrize(
    "fsize",
    [
        10_000,  # fails at the first figure
        100_000,  # every figure fits; fails writing report.html (it embeds them)
    ],
)
def test_failed_write_leaves_the_previous_report_byte_identical(study, tmp_path, fsize):
    out = tmp_path / "reports"
    good = _report(study, out)
    assert good.returncode == 0, good.stderr[-3000:]
    target = out / "ablation"
    before = _snapshot(out)
    assert {"ablation/report.html", "ablation/report.md", "ablation/summary.csv"} <= set(before)
    assert any(name.startswith("ablation/figures/") for name in before), before
    store_before = _store_state(study)

    failed = _report(study, out, fsize=fsize)

    assert failed.returncode == 1, failed.stderr[-3000:]
    line = _one_error_line(failed)
    assert f"cannot write the report to {out.resolve()}" in line, line
    assert "File too large" in line and "--out" in line, line
    assert _snapshot(out) == before, "the previous report was changed or a stage folder left"
    assert sorted(p.name for p in out.iterdir()) == ["ablation"]
    assert (target / "report.html").read_text(encoding="utf-8").rstrip().endswith("</html>")
    assert _store_state(study) == store_before
    assert store_before[0] == "ok"


@pytest.mark.slow
def test_rebuild_replaces_report_files_and_keeps_the_users(study, tmp_path):
    """A good rebuild: report files are the new ones, figures it no longer makes are gone,
    files the user put in the folder stay."""
    out = tmp_path / "reports"
    assert _report(study, out).returncode == 0
    target = out / "ablation"
    (target / "notes.txt").write_text("my notes\n")
    (target / "figures" / "my_plot.png").write_bytes(b"mine")
    old_html = (target / "report.html").read_bytes()

    again = _report(study, out, "--no-figures")

    assert again.returncode == 0, again.stderr[-3000:]
    assert (target / "notes.txt").read_text() == "my notes\n"
    assert (target / "figures" / "my_plot.png").read_bytes() == b"mine"
    assert sorted(p.name for p in (target / "figures").iterdir()) == ["my_plot.png"]
    assert (target / "report.html").read_bytes() != old_html
    assert {p.name for p in target.iterdir()} >= {"report.md", "report.html", "summary.csv"}
    assert sorted(p.name for p in out.iterdir()) == ["ablation"], "a stage folder was left"


@pytest.mark.parametrize("under", ["", "sub/folder"])
def test_out_naming_a_file_is_one_error_line(study, tmp_path, under):
    blocker = tmp_path / "taken.txt"
    blocker.write_text("not a folder\n")
    out = blocker / under if under else blocker

    done = _report(study, out)

    assert done.returncode == 2, done.stderr[-3000:]
    line = _one_error_line(done)
    assert "--out" in line and "is a file" in line and str(blocker) in line, line
    assert blocker.read_text() == "not a folder\n"
    assert not done.stdout


@pytest.mark.slow
def test_report_into_a_folder_that_is_a_file_inside_out_fails_cleanly(study, tmp_path):
    """``<out>/<experiment>`` exists as a file: one line, exit 1, the file untouched."""
    out = tmp_path / "reports"
    out.mkdir()
    (out / "ablation").write_text("a file where the report folder goes\n")
    before = _snapshot(out)

    done = _report(study, out)

    assert done.returncode != 0
    line = _one_error_line(done)
    assert "cannot write the report" in line, line
    assert _snapshot(out) == before
