"""python -m ablation.data info / verify, run as a user would."""

import os
import subprocess
import sys
from pathlib import Path

import ablation
from ablation.data import load, packaged

CHILD_ENV = {**os.environ, "PYTHONPATH": str(Path(ablation.__file__).parents[1])}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ablation.data", *args],
        env=CHILD_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_info_describes_sources_without_writing_the_cache(tmp_path):
    result = run("info", "--cache-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert packaged.DATASET_SHA256 in out
    assert "train/test  60000 / 10000 images of 28x28" in out
    assert "0:5923 1:6742 2:5958" in out and "0:980 1:1135" in out
    assert f"{packaged.cache_path(tmp_path)} (not cached)" in out
    assert "digits" in out and "1437 / 360 images of 8x8" in out
    assert list(tmp_path.iterdir()) == []  # info only reads


def test_info_shows_cached_after_a_load(tmp_path):
    load("mnist", n_train=100, cache_dir=tmp_path)
    result = run("info", "--cache-dir", str(tmp_path))
    assert f"{packaged.cache_path(tmp_path)} (cached)" in result.stdout


def test_verify_passes_then_fails_on_a_damaged_cache(tmp_path):
    load("mnist", n_train=100, cache_dir=tmp_path)
    good = run("verify", "--cache-dir", str(tmp_path))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "all four arrays match the pinned SHA-256" in good.stdout
    path = packaged.cache_path(tmp_path)
    path.write_bytes(path.read_bytes()[:5000])
    bad = run("verify", "--cache-dir", str(tmp_path))
    assert bad.returncode == 1
    assert f"FAIL  cache file {path}" in bad.stdout


def test_data_layer_imports_no_config_or_tracking_framework(tmp_path):
    code = (
        "import sys, ablation.data as d; d.load('mnist', n_train=100, cache_dir=sys.argv[1]); "
        "d.load('digits'); print(sorted(m for m in ('hydra', 'omegaconf', 'mlflow') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=CHILD_ENV, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_control_characters_in_a_path_are_shown_escaped_not_acted_on(tmp_path):
    """A file name carrying a terminal escape (clear screen) reaches the terminal as text."""
    bad = tmp_path / "x\x1b[2Jy.csv"
    result = run("info", "--cache-dir", str(tmp_path / "cache"), "--csv", str(bad))
    assert result.returncode == 1
    assert "\x1b" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "\\x1b[2J" in lines[0]
    assert "Traceback" not in result.stderr
