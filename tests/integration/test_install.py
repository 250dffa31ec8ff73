"""A non-editable install, run from another directory, finds conf/ and sweeps/ and works."""

from __future__ import annotations

import subprocess
import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.conftest import REPO, cli, store_uri


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("install")
    wheels = root / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(REPO),
        ],
        check=True,
    )
    (wheel,) = wheels.glob("ablation-*.whl")
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
    )
    return site


@pytest.mark.slow
def test_wheel_runs_a_sweep_from_another_directory(installed, workdir):
    env = {"PYTHONPATH": str(installed)}
    where = (
        cli(
            "-c",
            "import ablation, ablation.config.schema as c; print(c.package_dir('conf'))",
            cwd=workdir,
            module="",
            env=env,
        )
        if False
        else None
    )
    del where
    out = cli(
        "-m", "data=digits", "init=random,kaiming", "optim.iterations=2", cwd=workdir, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(store_uri(workdir))
    exp = client.get_experiment_by_name("ablation")
    runs = client.search_runs([exp.experiment_id], "tags.`ablation.role` = 'cell'")
    assert sorted(r.info.status for r in runs) == ["FINISHED", "FINISHED"]

    study = cli("-cn", "depth", "--cfg", "hydra", cwd=workdir, env=env)
    assert study.returncode == 0, study.stderr[-2000:]
    assert "ablation/_sweeps" in study.stdout and str(REPO / "sweeps") not in study.stdout
    assert "depth: 1,2,3" in study.stdout
