"""The MNIST cache: served without the archive, verified, rebuilt when damaged, atomic;
and the archive checks that guard it."""

import hashlib
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import platformdirs
import pytest
import zarr

import ablation
from ablation.data import DataError, load, packaged
from ablation.data import cache as data_cache
from ablation.data.dataset import SPLITS


def snapshot(directory: Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


# Child processes import this checkout of `ablation`, wherever pytest was started.
CHILD_ENV = {**os.environ, "PYTHONPATH": str(Path(ablation.__file__).parents[1])}


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**CHILD_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def mnist_arrays(tmp_path_factory) -> dict[str, np.ndarray]:
    src = packaged.load_source(tmp_path_factory.mktemp("arrays"))
    return {name: getattr(src, name) for name in SPLITS}


def write_archive(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    store = zarr.storage.ZipStore(path, mode="w")
    group = zarr.open_group(store, mode="w")
    for name, array in arrays.items():
        group.create_array(name, data=array, chunks=(min(len(array), 8192), *array.shape[1:]))
    store.close()
    return path


def test_second_load_is_served_from_the_cache(tmp_path):
    reads = packaged.archive_reads()
    first = load("mnist", n_train=1000, cache_dir=tmp_path)
    assert packaged.archive_reads() == reads + 1
    assert packaged.cache_path(tmp_path).is_file()
    second = load("mnist", n_train=1000, cache_dir=tmp_path)
    assert packaged.archive_reads() == reads + 1  # the archive was not opened again
    assert np.array_equal(first.X_train, second.X_train)
    assert second.checksum == packaged.DATASET_SHA256


def test_a_fresh_process_loads_from_the_cache_with_no_archive_at_all(tmp_path):
    code = """
        import time
        from ablation.data import load
        start = time.perf_counter()
        ds = load("mnist")
        print(ds.checksum, len(ds.y_train), round(time.perf_counter() - start, 3))
    """
    missing = tmp_path / "no-archive-here.zarr.zip"
    cache_dir = tmp_path / "cache"
    env = {"ABLATION_MNIST_ARCHIVE": str(missing), "ABLATION_CACHE_DIR": str(cache_dir)}
    cold = run_python(code, **env)  # no cache yet: the override is honoured and fails
    assert cold.returncode != 0 and f"MNIST archive {missing} does not exist" in cold.stderr
    load("mnist", n_train=100, cache_dir=cache_dir)  # fills the cache from the real archive
    warm = run_python(code, **env)
    assert warm.returncode == 0, warm.stderr
    checksum, rows, _seconds = warm.stdout.split()
    assert checksum == packaged.DATASET_SHA256 and rows == "60000"


@pytest.mark.parametrize("damage", ["truncate", "flip_bytes", "empty"])
def test_damaged_cache_file_is_detected_and_rebuilt(tmp_path, damage):
    load("mnist", n_train=100, cache_dir=tmp_path)
    path = packaged.cache_path(tmp_path)
    good_size = path.stat().st_size
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip_bytes":
        data[len(data) // 3 : len(data) // 3 + 64] = bytes(range(64))
    else:
        data = b""
    path.write_bytes(bytes(data))
    reads = packaged.archive_reads()
    with pytest.warns(UserWarning, match=f"cache file {path} .*; rebuilding it"):
        ds = load("mnist", n_train=100, cache_dir=tmp_path)
    assert packaged.archive_reads() == reads + 1  # rebuilt from the archive
    assert ds.checksum == packaged.DATASET_SHA256
    assert path.stat().st_size == good_size
    assert data_cache.read(path, SPLITS, packaged.DATASET_SHA256) is not None


def test_cache_that_is_self_consistent_but_not_mnist_is_rebuilt(tmp_path, mnist_arrays):
    path = packaged.cache_path(tmp_path)
    fake = dict(mnist_arrays, train_labels=np.zeros(60000, np.uint8))
    data_cache.write(path, fake)  # its stored checksum matches its (wrong) arrays
    with pytest.warns(UserWarning, match="expected 06b0d1f124c4"):
        ds = load("mnist", cache_dir=tmp_path)
    assert np.bincount(ds.y_train).tolist()[:2] == [5923, 6742]


def test_leftover_temp_files_are_ignored_and_old_ones_cleaned(tmp_path):
    fresh = tmp_path / ".mnist-06b0d1f124c4e5fa.npz.fresh.tmp"
    old = tmp_path / ".mnist-06b0d1f124c4e5fa.npz.old.tmp"
    for leftover in (fresh, old):
        leftover.write_bytes(b"half a file")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    load("mnist", n_train=100, cache_dir=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    # the fresh one may belong to a writer still at work; the old one was killed midway
    assert names == [fresh.name, "mnist-06b0d1f124c4e5fa.npz"]


def test_no_damage_to_a_cache_file_escapes_or_is_accepted(tmp_path):
    path = tmp_path / "small.npz"
    arrays = {"a": np.arange(3000, dtype=np.uint16).astype(np.uint8), "b": np.ones(40, np.uint8)}
    assert data_cache.write(path, arrays)
    good = path.read_bytes()
    rng = np.random.default_rng(0)
    for trial in range(300):
        data = bytearray(good)
        if trial % 2:
            data = data[: int(rng.integers(len(data)))]
        else:
            at = int(rng.integers(len(data) - 8))
            data[at : at + 8] = rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = data_cache.read(path, ("a", "b"))  # must not raise
        if got is not None:  # only damage outside the array bytes may pass
            assert all(np.array_equal(got[k], arrays[k]) for k in arrays)


def test_killed_writer_never_leaves_a_broken_file_under_the_final_name(tmp_path):
    target = tmp_path / "big.npz"
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import numpy as np
                from pathlib import Path
                from ablation.data import cache
                arrays = {{"a": np.full(100_000_000, 7, dtype=np.uint8)}}
                print("ready", flush=True)
                while True:
                    cache.write(Path({str(target)!r}), arrays)
            """),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=CHILD_ENV,
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.37)  # somewhere inside a later write
    finally:
        writer.kill()
        writer.wait()
    assert target.is_file()
    assert data_cache.read(target, ("a",)) is not None  # complete and checksum-valid


def test_cache_dir_argument_beats_env_var_which_beats_the_user_cache(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    monkeypatch.delenv(data_cache.CACHE_ENV, raising=False)
    assert data_cache.cache_dir() == Path(platformdirs.user_cache_dir("ablation"))
    monkeypatch.setenv(data_cache.CACHE_ENV, str(env_dir))
    assert data_cache.cache_dir() == env_dir
    load("mnist", n_train=100, cache_dir=arg_dir)
    assert packaged.cache_path(arg_dir).is_file() and not env_dir.exists()
    load("mnist", n_train=100)
    assert packaged.cache_path(env_dir).is_file()


def test_unwritable_cache_only_warns(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    with pytest.warns(UserWarning, match="cannot write cache file"):
        ds = load("mnist", n_train=100, cache_dir=not_a_dir)
    assert len(ds.y_train) == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_missing_or_non_zip_archive_names_the_file(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    for archive in (tmp_path / "missing.zarr.zip", tmp_path / "not-a-zip.zarr.zip"):
        if archive.name.startswith("not"):
            archive.write_text("hello")
        monkeypatch.setenv(packaged.ARCHIVE_ENV, str(archive))
        with pytest.raises(DataError, match=str(archive)):
            load("mnist", cache_dir=cache_dir)
        assert not cache_dir.exists()


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        ("swap_test_labels", "array 'test_labels' has SHA-256 [0-9a-f]{64}, expected ddeff807"),
        ("relabel_train", r"array 'train_labels' has class counts \(5922, 6743"),
        ("flip_a_pixel", "array 'train_images' has SHA-256"),
        ("drop_rows", r"array 'test_images' is uint8 \(9999, 28, 28\), expected uint8"),
        ("missing_array", "cannot read array 'test_labels'"),
    ],
)
def test_tampered_archive_names_the_array_and_expectation(
    tmp_path, monkeypatch, mnist_arrays, tamper, message
):
    arrays = {name: array.copy() for name, array in mnist_arrays.items()}
    if tamper == "swap_test_labels":  # same counts, different bytes
        first_7, first_2 = np.flatnonzero(arrays["test_labels"] == 7)[0], 1
        arrays["test_labels"][[first_7, first_2]] = arrays["test_labels"][[first_2, first_7]]
    elif tamper == "relabel_train":
        arrays["train_labels"][np.flatnonzero(arrays["train_labels"] == 0)[0]] = 1
    elif tamper == "flip_a_pixel":
        arrays["train_images"][123, 14, 14] ^= 1
    elif tamper == "drop_rows":
        arrays["test_images"] = arrays["test_images"][:-1]
    else:
        del arrays["test_labels"]
    archive = write_archive(tmp_path / "tampered.zarr.zip", arrays)
    monkeypatch.setenv(packaged.ARCHIVE_ENV, str(archive))
    cache_dir = tmp_path / "cache"
    with pytest.raises(DataError, match=message) as caught:
        load("mnist", cache_dir=cache_dir)
    assert str(archive) in str(caught.value)
    assert not cache_dir.exists()  # nothing was cached from the bad archive
