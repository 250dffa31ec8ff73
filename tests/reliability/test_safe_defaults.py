"""Safe by default: servers bind to 127.0.0.1 unless the user passes a host, and nothing
is ever loaded with pickle (weights and caches are ``.npz`` read with allow_pickle=False).
"""

from __future__ import annotations

import ast
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from ablation import tracking
from ablation.data import cache
from ablation.nn import MLP
from tests.reliability.support import started

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted((REPO / "ablation").rglob("*.py")) + sorted((REPO / "hydra_plugins").rglob("*.py"))


def _listeners(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.add(address)
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net")
def test_ui_listens_on_loopback_only_by_default(workdir):
    uri = f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"
    tracking.client_for(uri)  # an existing (empty) store
    port = _free_port()
    with started(
        ["--port", str(port), "--tracking-uri", uri], cwd=workdir, module="ablation.ui"
    ) as (ui,):
        ui.wait_until(lambda: bool(_listeners(port)), f"the UI listening on port {port}", 120)
        time.sleep(0.5)  # let every worker bind
        assert _listeners(port) == {"0100007F"}, "bound beyond 127.0.0.1"
        assert f"http://127.0.0.1:{port}" in ui.output
        ui.kill_group()
        assert not ui.group_members(settle=10)


def test_no_source_file_can_bind_all_interfaces_or_unpickle():
    """Static check of the package: no pickle-family loaders, every np.load refuses pickles,
    no shell, no eval/exec, no wildcard bind address."""
    forbidden_modules = {"pickle", "cPickle", "dill", "cloudpickle", "shelve", "marshal", "joblib"}
    problems = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(REPO)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                for name in names:
                    if name.split(".")[0] in forbidden_modules:
                        problems.append(f"{where}:{node.lineno} imports {name}")
            elif isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                keywords = {k.arg: k.value for k in node.keywords}
                if func.endswith(("np.load", "numpy.load")):
                    flag = keywords.get("allow_pickle")
                    if not (isinstance(flag, ast.Constant) and flag.value is False):
                        problems.append(f"{where}:{node.lineno} np.load without allow_pickle=False")
                if func.endswith(("read_pickle", "torch.load", "yaml.load", "yaml.unsafe_load")):
                    problems.append(f"{where}:{node.lineno} calls {func}")
                if func in ("eval", "exec", "os.system", "os.popen"):
                    problems.append(f"{where}:{node.lineno} calls {func}")
                shell = keywords.get("shell")
                if isinstance(shell, ast.Constant) and shell.value is True:
                    problems.append(f"{where}:{node.lineno} runs a shell")
            elif isinstance(node, ast.Constant) and node.value in ("0.0.0.0", "::"):
                problems.append(f"{where}:{node.lineno} names the wildcard address")
    assert not problems, "\n".join(problems)


class _Pickled:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _pickle_npz(path: Path, marker: Path, keys) -> Path:
    payload = np.array([_Pickled(marker)], dtype=object)
    with open(path, "wb") as fh:
        np.savez(fh, **{k: payload for k in keys})
    return path


def test_weights_with_a_pickle_inside_are_refused_not_loaded(tmp_path):
    marker = tmp_path / "unpickled"
    keys = ("format_version", "sizes", "activations", "init", "dtype", "seed", "W0", "b0")
    path = _pickle_npz(tmp_path / "weights.npz", marker, keys)
    with pytest.raises(ValueError, match="allow_pickle"):
        MLP.load(path)
    assert not marker.exists()


def test_cache_file_with_a_pickle_inside_is_rebuilt_not_loaded(tmp_path):
    marker = tmp_path / "unpickled"
    path = _pickle_npz(tmp_path / "mnist-0000.npz", marker, ("train_images", "sha256"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cache.read(path, ("train_images",)) is None  # unusable: the caller rebuilds
    assert any("rebuilding" in str(w.message) for w in caught)
    assert not marker.exists()
