"""``python -m ablation.ui`` as a user meets it: the training view of a real sweep in a real
browser (headless Chromium), a clean stop on SIGTERM, a busy port, a non-loopback host."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from ablation import ui
from tests.conftest import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
UI_ENV = {"PYTHONUNBUFFERED": "1", "ABLATION_BLAS_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    return ui.port_problem("127.0.0.1", port) is None


def _descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (children of children too), from /proc."""
    found, todo = set(), [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*"):
            try:
                kids = {int(k) for k in (task / "children").read_text().split()}
            except OSError:
                continue
            todo += sorted(kids - found)
            found |= kids
    return found


def _alive(pid: int) -> bool:
    """Running and not a zombie (a zombie is dead; PID 1 here may reap it late)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in "ZX"


class UI:
    """``python -m ablation.ui`` started as a user would; output collected line by line."""

    def __init__(self, *args: str, cwd: Path):
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "ablation.ui", *args],
            cwd=cwd,
            env={**os.environ, **UI_ENV},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.popen.poll() is not None:
                raise AssertionError(f"ablation.ui ended before {text!r}:\n{self.output}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} after {timeout}s:\n{self.output}")
            time.sleep(0.1)

    def finish(self, timeout: float = 60) -> int:
        code = self.popen.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def kill_all(self) -> None:
        """Test clean-up whatever happened: SIGKILL ablation.ui and everything under it."""
        for pid in [*_descendants(self.popen.pid), self.popen.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.popen.wait(timeout=30)


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory) -> tuple[Path, str]:
    """A real store made by a real 2-cell sweep (digits, 5 iterations)."""
    work = tmp_path_factory.mktemp("ui-store")
    uri = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    done = cli(
        "-m",
        "data=digits",
        "init=random,kaiming",
        "optim.iterations=5",
        f"tracking.uri={uri}",
        cwd=work,
        env={**UI_ENV, "MLFLOW_TRACKING_URI": ""},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return work, uri


def _cell_names(uri: str) -> list[str]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ablation")
    runs = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'cell'")
    return [r.info.run_name for r in runs]


def _parent_ids(uri: str) -> list[str]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("ablation")
    runs = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'sweep'")
    return [r.info.run_id for r in runs]


def _dump_dom(url: str, profile: Path) -> str:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",  # a fresh browser: no remembered workflow switch
        "--virtual-time-budget=20000",
        "--window-size=1400,2000",
        "--dump-dom",
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it)")
def test_printed_link_opens_the_training_view_and_sigterm_leaves_nothing(sweep_store, tmp_path):
    work, uri = sweep_store
    port = _free_port()
    app = UI("--port", str(port), "--tracking-uri", uri, cwd=work)
    try:
        app.wait_for("MLflow UI ready")
        links = re.findall(r"^\s+ablation\s+(http://\S+)$", app.output, flags=re.M)
        assert len(links) == 1, app.output
        assert links[0].startswith(f"http://127.0.0.1:{port}/#/experiments/")
        assert "workflowType=machine_learning" in links[0]

        dom = _dump_dom(links[0], tmp_path / "profile")
        title = re.search(r"<title>(.*?)</title>", dom).group(1)
        assert title.startswith("Runs - Experiment"), title  # not "Overview - Experiment"
        for genai in ("Token Usage", "Latency", "Detect Issues"):
            assert genai not in dom, f"the GenAI overview opened ({genai!r} in the page)"
        names = _cell_names(uri)
        assert len(names) == 2
        for name in names:  # listed flat, not folded under the sweep's parent run
            assert name in dom, f"run {name!r} not in the runs table"
        assert "init.name" in dom, "the shared view did not add the varying param as a column"
        assert "Sort: test/acc" in dom
        # seeds grouped by cell: MLflow's groupBy, saved in the view the link loads
        exp = MlflowClient(uri).get_experiment_by_name("ablation")
        view = json.loads(exp.tags[ui.SHARED_VIEW_TAG])
        assert view["groupBy"] == {
            "aggregateFunction": "average",
            "groupByKeys": [{"mode": "param", "groupByData": "init.name"}],
        }
        assert view["useGroupedValuesInCharts"] is True
        for level in ("kaiming", "random"):  # one key: MLflow names a group by its value
            assert f"Group: {level}" in dom, "the runs table is not grouped by cell"
        assert "Group by: init.name" in dom

        # the sweep's run: its link in the training view, its description says what happened
        (sweep_link,) = re.findall(r"^\s+sweep init .*\s(http://\S+)$", app.output, flags=re.M)
        assert "latest sweep run (what happened, the best cell, report.html):" in app.output
        (parent,) = _parent_ids(uri)
        assert sweep_link.endswith(f"/runs/{parent}?workflowType=machine_learning")
        page = _dump_dom(sweep_link, tmp_path / "profile-sweep")
        assert "Sweep of 2 cells, done in" in page and "2 trained, 0 failed, 0 skipped" in page
        assert "Best cell init=" in page
        for genai in ("Token Usage", "Latency", "Detect Issues"):
            assert genai not in page, f"the run page opened in GenAI mode ({genai!r})"
        # MLflow's own advice to bind 0.0.0.0 is answered by ours, in one line
        assert "To allow connections from other hosts" not in app.output
        assert f"ssh -L {port}:127.0.0.1:{port}" in app.output
        assert "DeprecationWarning" not in app.output and "GET /health" not in app.output

        below = _descendants(app.popen.pid)
        assert below, "the MLflow server runs under ablation.ui"
        app.popen.send_signal(signal.SIGTERM)
        assert app.finish() == 128 + signal.SIGTERM, app.output
        assert "stopped the MLflow UI (SIGTERM)" in app.output
        deadline = time.monotonic() + 10  # a dead process can take a moment to leave /proc
        while [p for p in below if _alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in below if _alive(p)], f"left running: {below}"
        assert _port_free(port), f"port {port} still taken after the UI stopped"
    finally:
        if app.popen.poll() is None:
            app.kill_all()


@pytest.mark.slow
def test_sigint_stops_server_and_exits_130(sweep_store):
    work, uri = sweep_store
    port = _free_port()
    app = UI("--port", str(port), "--tracking-uri", uri, cwd=work)
    try:
        app.wait_for("MLflow UI ready")
        below = _descendants(app.popen.pid)
        app.popen.send_signal(signal.SIGINT)
        assert app.finish() == 128 + signal.SIGINT, app.output
        assert "Traceback" not in app.output, app.output
        deadline = time.monotonic() + 10
        while [p for p in below if _alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in below if _alive(p)]
        assert _port_free(port)
    finally:
        if app.popen.poll() is None:
            app.kill_all()


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
def test_sigkill_of_the_ui_still_stops_the_server(sweep_store):
    """SIGKILL cannot be caught: the server learns of it from the kernel (PR_SET_PDEATHSIG)."""
    work, uri = sweep_store
    port = _free_port()
    app = UI("--port", str(port), "--tracking-uri", uri, cwd=work)
    below: set[int] = set()
    try:
        app.wait_for("MLflow UI ready")
        below = _descendants(app.popen.pid)
        assert below
        app.popen.send_signal(signal.SIGKILL)
        app.finish()
        deadline = time.monotonic() + 30
        while [p for p in below if _alive(p)] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [p for p in below if _alive(p)], f"left running: {below}"
        assert _port_free(port)
    finally:
        for pid in below:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if app.popen.poll() is None:
            app.kill_all()


def test_busy_port_exits_2_with_one_line(sweep_store):
    work, uri = sweep_store
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("--port", str(port), "--tracking-uri", uri, cwd=work, module="ablation.ui")
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: cannot listen on 127.0.0.1:") and str(port) in lines[0]
    assert "--port" in lines[0]
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_port_taken_after_the_check_still_exits_2(sweep_store, tmp_path):
    """The race the check cannot close: the server itself finds the port taken."""
    _, uri = sweep_store
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        code, port_taken = ui.serve(cmd, dict(os.environ), f"http://127.0.0.1:{port}", "ready")
    assert port_taken
    assert code != 0


@pytest.mark.slow
def test_non_loopback_host_warns(sweep_store):
    work, uri = sweep_store
    port = _free_port()
    app = UI("--host", "0.0.0.0", "--port", str(port), "--tracking-uri", uri, cwd=work)
    try:
        app.wait_for("MLflow UI ready")
        warnings = [line for line in app.lines if line.startswith("warning:")]
        assert len(warnings) == 1, app.output
        assert "0.0.0.0" in warnings[0] and "no login" in warnings[0]
        app.popen.send_signal(signal.SIGTERM)
        assert app.finish() == 128 + signal.SIGTERM
    finally:
        if app.popen.poll() is None:
            app.kill_all()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_do_not_warn(host):
    assert ui.is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_other_hosts_are_not_loopback(host):
    assert not ui.is_loopback(host)
