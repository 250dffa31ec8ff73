"""Scaling out: the same sweep through Ray into an MLflow server, and the Slurm launcher config.

The Ray test starts its own Ray head and ``mlflow server`` on 127.0.0.1 (free ports, temp
dirs), runs a grid with ``hydra/launcher=ray`` and ``tracking.uri=http://...``, checks the
runs through the MLflow client against the server, and stops both services, even on failure.
The composition tests run the commands of the README's "Scaling out" section verbatim
 with ``--cfg``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from tests.conftest import FAILING_SWEEP, REPO, cli

GRID = ["-m", "init=random,kaiming", "reg=none,l2", "data=digits", "optim.iterations=3"]
RAY_READY_S = 90
SERVER_READY_S = 90
SWEEP_TIMEOUT_S = 240

#: On Linux Ray replaces 127.0.0.1 by the machine's address and listens on every interface;
#: with this it keeps the whole cluster (head, workers, driver) on the loopback interface.
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None
    or importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is None,
    reason="needs the ray extra: pip install '.[ray]'",
)


# -- services --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop_group(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM the process (its own session), then SIGKILL whatever is left of its group."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: pgid == pid
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _wait_for(ready, proc: subprocess.Popen, log: Path, what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.5)
    raise RuntimeError(f"{what} not ready after {timeout_s}s:\n{log.read_text()[-3000:]}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def services(data_cache, tmp_path_factory):
    """A Ray head and an ``mlflow server`` (sqlite backend), both on 127.0.0.1 only."""
    # Ray's unix sockets live under --temp-dir and must stay below ~107 characters.
    ray_dir = Path(tempfile.mkdtemp(prefix="abl-ray-", dir="/tmp"))
    server_dir = tmp_path_factory.mktemp("mlflow-server")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RAY_ADDRESS")}
    env.update(LOOPBACK_ONLY, PYTHONUNBUFFERED="1", RAY_USAGE_STATS_ENABLED="0")
    started: list[subprocess.Popen] = []
    try:
        ray_port = free_port()
        ray_env = {
            **env,
            # Ray workers inherit the environment of the raylet: the data cache, and the
            # metrics ports Ray would otherwise take from fixed defaults.
            "ABLATION_CACHE_DIR": str(data_cache),
            "AUTOSCALER_METRIC_PORT": str(free_port()),
            "DASHBOARD_METRIC_PORT": str(free_port()),
        }
        ray_log = ray_dir / "ray-start.log"
        with open(ray_log, "w") as out:
            ray = subprocess.Popen(
                [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
                 "--node-ip-address=127.0.0.1", f"--port={ray_port}",
                 f"--ray-client-server-port={free_port()}", f"--dashboard-port={free_port()}",
                 f"--dashboard-agent-listen-port={free_port()}", "--num-cpus=2",
                 "--include-dashboard=false", "--disable-usage-stats",
                 f"--temp-dir={ray_dir / 'ray'}"],
                cwd=ray_dir, env=ray_env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        started.append(ray)

        server_port = free_port()
        server_url = f"http://127.0.0.1:{server_port}"
        server_log = server_dir / "server.log"
        with open(server_log, "w") as out:
            server = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                 "--port", str(server_port), "--workers", "1",
                 "--backend-store-uri", f"sqlite:///{server_dir / 'mlflow.db'}",
                 "--artifacts-destination", str(server_dir / "artifacts")],
                cwd=server_dir, env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        started.append(server)

        _wait_for(
            lambda: "Ray runtime started" in ray_log.read_text(),
            ray,
            ray_log,
            "ray start --head",
            RAY_READY_S,
        )
        _wait_for(lambda: _healthy(server_url), server, server_log, "mlflow server", SERVER_READY_S)
        yield {
            "ray_address": f"127.0.0.1:{ray_port}",
            "ray_dir": ray_dir,
            "tracking_uri": server_url,
            "artifacts": server_dir / "artifacts",
        }
    finally:
        for proc in reversed(started):
            _stop_group(proc, grace_s=45)
        shutil.rmtree(ray_dir, ignore_errors=True)


def ray_sweep(services, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m ablation`` as the README has it, with the Ray launcher and the server."""
    return cli(
        *args,
        "hydra/launcher=ray",
        f"hydra.launcher.ray.init.address={services['ray_address']}",
        f"tracking.uri={services['tracking_uri']}",
        cwd=workdir,
        timeout=SWEEP_TIMEOUT_S,
        env={**LOOPBACK_ONLY, "RAY_DEDUP_LOGS": "0"},
    )


def runs(client: MlflowClient, experiment: str, role: str) -> list:
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} not on the server"
    return client.search_runs(
        [exp.experiment_id],
        f"tags.`ablation.role` = '{role}'",
        run_view_type=ViewType.ACTIVE_ONLY,
        max_results=1000,
    )


# -- Ray + MLflow server -----------------------------------------------------------------------


@pytest.mark.slow
@needs_ray
def test_ray_sweep_into_mlflow_server_and_resume(services, workdir):
    result = ray_sweep(services, workdir, *GRID, "experiment_name=scale_out")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "4 cells, 0 already FINISHED, 4 to run" in result.stdout
    assert "Ray Launcher is launching 4 jobs" in output
    assert output.count("(_run_job pid=") >= 4, "the cells did not run as Ray tasks"

    client = MlflowClient(services["tracking_uri"])
    (parent,) = runs(client, "scale_out", "sweep")
    assert parent.info.status == "FINISHED"
    cells = runs(client, "scale_out", "cell")
    assert len(cells) == 4
    assert {(r.data.params["init.name"], r.data.params["reg.name"]) for r in cells} == {
        (i, r) for i in ("random", "kaiming") for r in ("none", "l2")
    }
    for run in cells:
        assert run.info.status == "FINISHED", run.data.tags.get("ablation.failure")
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert 0.0 <= run.data.metrics["test/acc"] <= 1.0
        # trained in a Ray worker, not in the process of the sweep (which made the parent)
        assert run.data.tags["ablation.pid"] != parent.data.tags["ablation.pid"]
        # artifacts went through the server into its artifact store
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri
        listed = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"weights.npz", "config.yaml"} <= listed
        stored = services["artifacts"].rglob(f"{run.info.run_id}/artifacts/weights.npz")
        assert next(stored, None) is not None, "weights.npz not in the server's artifact store"
    # nobody needed a local sqlite store: not the driver, not the Ray workers
    assert not (workdir / "mlruns").exists()
    assert not list(services["ray_dir"].rglob("mlflow.db"))

    # The same command again: every cell is FINISHED, nothing is trained twice.
    again = ray_sweep(services, workdir, *GRID, "experiment_name=scale_out")
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert "all 4 cells already FINISHED; nothing to run" in again.stdout
    assert {r.info.run_id for r in runs(client, "scale_out", "cell")} == {
        r.info.run_id for r in cells
    }
    parents = runs(client, "scale_out", "sweep")  # a no-op rerun makes no sweep run
    assert len(parents) == 1 and all(p.info.status == "FINISHED" for p in parents)


@pytest.mark.slow
@needs_ray
def test_ray_sweep_reports_failed_cells(services, workdir):
    result = ray_sweep(services, workdir, *FAILING_SWEEP, "experiment_name=scale_out_failure")
    assert result.returncode == 1, (result.stdout + result.stderr)[-4000:]
    assert "FAILED" in result.stdout and "optim.lr=10000.0" in result.stdout

    client = MlflowClient(services["tracking_uri"])
    by_lr = {r.data.params["optim.lr"]: r for r in runs(client, "scale_out_failure", "cell")}
    assert by_lr["0.01"].info.status == "FINISHED"
    failed = by_lr["10000.0"]
    assert failed.info.status == "FAILED"
    assert "diverged" in failed.data.tags["ablation.failure"]
    assert "error.txt" in {a.path for a in client.list_artifacts(failed.info.run_id)}
    (parent,) = runs(client, "scale_out_failure", "sweep")
    assert parent.info.status == "FAILED"
    assert "optim.lr=10000.0" in parent.data.tags["ablation.failed_cells"]


# -- the README's commands compose ---------------------------------------------------------


def readme_command(launcher: str) -> list[str]:
    """The ``python -m ablation ... hydra/launcher=<launcher>`` command of "Scaling out"."""
    for doc in (REPO / "README.md",):
        if not doc.exists():
            continue
        text = doc.read_text().replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("python -m ablation") and f"hydra/launcher={launcher}" in line:
                return shlex.split(line)[3:]
    raise AssertionError(f"no 'python -m ablation ... hydra/launcher={launcher}' in the docs")


def first_cell(args: list[str]) -> list[str]:
    """The overrides of the grid's first cell (``--cfg`` composes one job, not a sweep)."""
    assert args[0] == "-m", args
    cell = []
    for arg in args[1:]:
        key, _, value = arg.partition("=")
        if "," in value and not value.startswith(("[", "{", "'", '"')):
            value = value.split(",")[0]
        cell.append(f"{key}={value}")
    return cell


def compose(args: list[str], part: str, cwd: Path) -> dict:
    result = cli(*args, "--cfg", part, cwd=cwd, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return yaml.safe_load(result.stdout)


def test_readme_slurm_command_composes(workdir):
    args = readme_command("submitit_slurm")
    assert any("," in arg for arg in args), "the README's Slurm command is not a grid"
    cell = first_cell(args)
    launcher = compose(cell, "hydra", workdir)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert launcher["cpus_per_task"] == 1
    assert launcher["partition"]  # what a Slurm user changes: partition, time, memory
    assert isinstance(launcher["timeout_min"], int) and launcher["timeout_min"] > 0
    assert isinstance(launcher["mem_gb"], int) and launcher["mem_gb"] > 0
    assert any("OMP_NUM_THREADS=1" in line for line in launcher["setup"])
    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None:
        from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf
        from omegaconf import OmegaConf

        OmegaConf.merge(OmegaConf.structured(SlurmQueueConf), launcher)  # valid for the plugin

    job = compose(cell, "job", workdir)
    assert job["tracking"]["uri"].startswith("http")
    assert {"init", "reg", "data", "optim", "model", "seed"} <= job.keys()
    assert not (workdir / "mlruns").exists()


def test_readme_ray_command_composes(workdir):
    cell = first_cell(readme_command("ray"))
    launcher = compose(cell, "hydra", workdir)["hydra"]["launcher"]
    assert launcher["_target_"].endswith("hydra_ray_launcher.ray_launcher.RayLauncher")
    assert launcher["ray"]["init"]["address"]
    assert launcher["ray"]["init"]["object_store_memory"] is None
    assert launcher["ray"]["remote"]["num_cpus"] == 1
    assert launcher["ray"]["remote"]["runtime_env"]["env_vars"]["OMP_NUM_THREADS"] == "1"
    assert compose(cell, "job", workdir)["tracking"]["uri"].startswith("http")
