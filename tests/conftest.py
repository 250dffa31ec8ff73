"""Shared fixtures: a real MLflow sqlite store in a temp dir and a way to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# two cells, the second one diverges (lr 1e4): the failure scenario, on any launcher
FAILING_SWEEP = [
    "-m",
    "data=digits",
    "init=random",
    "optim.lr=0.01,1e4",
    "optim.iterations=30",
    "optim.eval_every=1",
]


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """One decoded-MNIST cache for the whole session, outside the user's cache."""
    path = Path(os.environ.get("ABLATION_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    return path


@pytest.fixture
def workdir(tmp_path, data_cache, monkeypatch) -> Path:
    """A fresh working directory whose ./mlruns is the store; the user's env is not used."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("ABLATION_CACHE_DIR", str(data_cache))
    return tmp_path


def cli(
    *args: str,
    cwd: Path,
    module: str = "ablation",
    timeout: float = 600,
    env=None,
    python: str = sys.executable,
) -> subprocess.CompletedProcess:
    """Run ``python -m <module> args`` as a user would, in ``cwd``."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [python, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def store_uri(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
