"""The distributed path under faults: a real PostgreSQL behind a real ``mlflow server``,
started by the README's recipe ("Scaling out", step 1) as written.

- The server is killed mid-sweep (a parallel sweep, the local launcher) and started again
  ~20 s later: the cells wait it out; the sweep exits 0, every cell FINISHED exactly once,
  nothing RUNNING, no traceback, no urllib3 retry warnings, one line when the server stops
  answering and one when it is back (per process that noticed).
- Two sweeps of the same grid at once against the server: one FINISHED run per cell.
- The server gone for longer than ``tracking.outage_wait_s``: one line naming it, exit 1.

Skipped, with the reason, only where PostgreSQL is not installed (CI installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections import Counter

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from ablation import tracking
from tests.conftest import cli
from tests.reliability.servers import MlflowServer, Postgres, free_port, localise, readme_recipe
from tests.reliability.support import started

pytestmark = pytest.mark.slow

#: 8 tiny cells (scikit-learn's digits, 40 full-batch steps): ~4 s each on one core.
GRID = ["data=digits", "init=random,kaiming", "seed=0,1,2,3", "optim.iterations=40"]
N_CELLS = 8
OUTAGE_S = 10.0  # killed, down 10 s, restarted: several attempts of the 1-2-4-8 s backoff


@pytest.fixture(scope="module")
def postgres():
    pg = Postgres()
    yield pg
    pg.stop()


@pytest.fixture(scope="module")
def recipe(postgres, tmp_path_factory) -> list[str]:
    """The README's commands with this machine's host, ports and folders put in."""
    postgres.create_db("mlflow")  # the README's database, owned by the role mlflow
    folder = tmp_path_factory.mktemp("srv")
    port = free_port()
    return [localise(c, port=port, pg_port=postgres.port, folder=folder) for c in readme_recipe()]


@pytest.fixture(scope="module")
def server(recipe, tmp_path_factory):
    (command,) = [c for c in recipe if "mlflow server" in c]
    srv = MlflowServer(
        command, int(command.split("--port")[1].split()[0]), tmp_path_factory.mktemp("log")
    )
    srv.first_start_s = srv.start()
    yield srv
    srv.kill()


def test_the_readme_recipe_runs_as_written(recipe, server, workdir):
    pip, _, curl = recipe
    assert pip.split()[:2] == ["pip", "install"] and "psycopg2-binary" in pip.split()
    __import__("psycopg2")  # what it installs (the dev extras have it): not run again here
    assert "postgresql+psycopg2://" in recipe[1] and "--workers 1" in recipe[1]
    if shutil.which("curl"):
        answer = subprocess.run(curl, shell=True, capture_output=True, text=True, timeout=30)
        assert answer.stdout.strip() == "OK", answer
    print(f"server first start (schema created) {server.first_start_s:.1f}s")
    sweep = cli(
        "-m",
        "data=digits",
        "seed=0,1",
        "optim.iterations=5",
        "report=false",
        f"tracking.uri={server.url}",
        cwd=workdir,
    )
    assert sweep.returncode == 0, sweep.stdout[-2000:] + sweep.stderr[-2000:]
    assert_one_finished_run_per_cell(server.url, "ablation", 2)


def _sweep(url: str, experiment: str, grid=GRID) -> tuple[str, ...]:
    return (
        "-m",
        *grid,
        "hydra/launcher=local",
        "hydra.launcher.n_jobs=2",
        f"tracking.uri={url}",
        f"experiment_name={experiment}",
        "report=false",
    )


def assert_one_finished_run_per_cell(url: str, experiment: str, n_cells: int) -> None:
    """Every cell FINISHED exactly once (deleted runs included) and complete; nothing of the
    study, parent or cell, deleted or not, RUNNING."""
    client = MlflowClient(url)
    exp = client.get_experiment_by_name(experiment)
    every = tracking.search(client, exp.experiment_id, "", view=ViewType.ALL)
    running = [(r.info.run_id, r.data.tags.get(tracking.TAG_ROLE)) for r in every]
    running = [pair for pair, r in zip(running, every, strict=True) if r.info.status == "RUNNING"]
    assert not running, f"runs left RUNNING: {running}"
    finished = [
        r
        for r in every
        if r.info.status == "FINISHED" and r.data.tags.get(tracking.TAG_ROLE) == "cell"
    ]
    per_hash = Counter(r.data.tags[tracking.TAG_HASH] for r in finished)
    assert {h: n for h, n in per_hash.items() if n > 1} == {}, "a cell FINISHED twice"
    assert len(per_hash) == n_cells, f"{len(per_hash)} of {n_cells} cells FINISHED"
    for run in finished:
        assert "test/acc" in run.data.metrics and "time/total_s" in run.data.metrics
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"weights.npz", "per_class.csv", "config.yaml"} <= names, run.info.run_id


def test_a_server_restart_mid_sweep_is_waited_out(server, workdir):
    with started(_sweep(server.url, "outage"), cwd=workdir) as (sweep,):
        sweep.wait_until(lambda: "[2/" in sweep.output, "two cells done", timeout=240)
        server.kill()
        killed = time.monotonic()
        time.sleep(OUTAGE_S)
        restart_s = server.start()
        down_s = time.monotonic() - killed
        code = sweep.wait(timeout=300)
    out = sweep.output
    print(f"server down {down_s:.1f}s (killed, {OUTAGE_S:.0f}s, restart {restart_s:.1f}s)")
    print(out)
    assert code == 0, out[-3000:]
    for noise in ("Traceback", "Retrying (Retry(", "Error executing job", "Max retries"):
        assert noise not in out, f"{noise!r} in the output:\n{out[-3000:]}"
    down = [line for line in out.splitlines() if "stopped answering" in line]
    back = [line for line in out.splitlines() if "answers again" in line]
    assert down and len(back) == len(down), out[-3000:]
    assert all(server.url in line for line in down + back)
    assert len(down) <= 3  # one per process that noticed: the sweep's and its two workers
    assert_one_finished_run_per_cell(server.url, "outage", N_CELLS)


def test_two_sweeps_of_one_grid_at_once_train_each_cell_once(server, workdir):
    grid = ["data=digits", "seed=0,1,2,3", "optim.iterations=40"]
    args = _sweep(server.url, "twice", grid)
    with started(args, args, cwd=workdir) as (first, second):
        codes = [first.wait(timeout=300), second.wait(timeout=300)]
    assert codes == [0, 0], first.tail() + second.tail()
    for proc in (first, second):
        assert "Traceback" not in proc.output, proc.tail()
    assert_one_finished_run_per_cell(server.url, "twice", 4)


def test_a_server_gone_past_the_bound_fails_the_sweep_with_one_line(server, workdir):
    """The server goes away mid-sweep for longer than ``tracking.outage_wait_s`` (here 5 s):
    one line naming the server, exit 1, no traceback. (Last in this module: it leaves the
    server down. What the sweep left RUNNING is reaped by the next start, as after any kill:
    test_kill_resume.py.)"""
    grid = ["data=digits", "seed=0,1", "optim.iterations=40"]
    args = (*_sweep(server.url, "gone", grid), "tracking.outage_wait_s=5")
    with started(args, cwd=workdir) as (sweep,):
        sweep.wait_until(lambda: "Launching" in sweep.output, "the cells start", timeout=120)
        server.kill()
        t0 = time.monotonic()
        code = sweep.wait(timeout=120)
    out = sweep.output
    print(f"gave up {time.monotonic() - t0:.1f}s after the kill:\n{out}")
    assert code == 1, out[-3000:]
    for noise in ("Traceback", "Retrying (Retry(", "Error executing job"):
        assert noise not in out, f"{noise!r} in the output:\n{out[-3000:]}"
    errors = [line for line in out.splitlines() if line.startswith("error:")]
    assert errors and f"the MLflow server at {server.url} did not answer" in errors[0], out
    assert len(errors) <= 2, errors  # the cause, and perhaps the parent it could not close
