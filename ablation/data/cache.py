"""On-disk cache of decoded uint8 arrays, one verified `.npz` per source version.

Directory: the `cache_dir` argument, else the env var ABLATION_CACHE_DIR, else
`platformdirs.user_cache_dir("ablation")`. Files are named after the source and
a SHA-256 that pins its content (MNIST: the pinned dataset checksum; Kaggle CSV:
the CSV file's bytes), so a changed source never hits a stale entry. Each file
stores its arrays plus the SHA-256 of their bytes; a file that fails to load,
or whose arrays do not match that checksum (or the pinned one the caller
expects), is reported as unusable and rebuilt by the caller. Writes go to a
temporary file in the same directory, then `os.replace`, so a killed
process never leaves a half-written file under the final name.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import platformdirs

from ablation.data.dataset import arrays_sha256

CACHE_ENV = "ABLATION_CACHE_DIR"
_CHECKSUM_KEY = "sha256"


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache directory: argument, else $ABLATION_CACHE_DIR, else the user cache dir."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("ablation"))


def read(path: Path, names: tuple[str, ...], expected_sha256: str | None = None) -> dict | None:
    """The arrays in the cache file `path`, or None when there is no usable file.

    A file that exists but is truncated, corrupt, lacks an array or fails its
    checksum gives a warning and None, so the caller rebuilds it.
    """
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in names}
            stored = str(npz[_CHECKSUM_KEY])
    except Exception as err:  # any damage (BadZipFile, ValueError, TokenError, ...) means rebuild
        problem = f"cannot be read ({type(err).__name__}: {err})"
    else:
        actual = arrays_sha256(*arrays.values())
        expected = expected_sha256 or stored
        if actual == expected:
            return arrays
        problem = f"has checksum {actual[:12]}..., expected {expected[:12]}..."
    warnings.warn(f"cache file {path} {problem}; rebuilding it", stacklevel=3)
    return None


def write(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Atomically store `arrays` (and their checksum) at `path`; False if impossible.

    A cache that cannot be written (read-only directory, full disk) only costs
    speed, so it gives a warning instead of failing the load.
    """
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temp_files(path)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays, **{_CHECKSUM_KEY: np.array(arrays_sha256(*arrays.values()))})
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600; a shared cache dir needs reads
        os.replace(tmp_name, path)
        return True
    except OSError as err:
        warnings.warn(
            f"cannot write cache file {path} ({err}); loading works but stays uncached. "
            f"Point {CACHE_ENV} or cache_dir= at a writable directory to cache it",
            stacklevel=3,
        )
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        return False


def _remove_stale_temp_files(path: Path, older_than_s: float = 3600.0) -> None:
    """Delete temp files of earlier writes to `path` that were killed midway."""
    now = time.time()
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            if now - stale.stat().st_mtime > older_than_s:
                stale.unlink()
        except OSError:
            pass  # another process removed or replaced it first
