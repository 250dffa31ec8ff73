"""A real PostgreSQL and a real ``mlflow server`` on it, for the tests of the distributed path.

PostgreSQL is Debian's ``postgresql`` package (CI installs it: see the Makefile); it runs in a
temporary folder on a free port and is removed afterwards. Root cannot run postgres, so as
root its commands run as the ``postgres`` user. Where it is not installed, the tests that need
it are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import glob
import os
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

#: The database and role the server uses (trust authentication: any password is taken).
DB_USER, DB_NAME = "mlflow", "mlflow"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder of initdb/pg_ctl (Debian: /usr/lib/postgresql/<version>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _as_db_user() -> list[str]:
    """Prefix for commands that must not run as root."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    return [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    prefix = _as_db_user()
    if prefix and prefix[0] == "su":
        cmd = [*prefix, " ".join(cmd)]
    else:
        cmd = [*prefix, *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120, **kwargs)


class Postgres:
    """A PostgreSQL cluster in a temporary folder, listening on 127.0.0.1:``port``."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
        if os.geteuid() == 0:
            try:
                import pwd

                self.owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
        self.folder = Path(tempfile.mkdtemp(prefix="ablation-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            os.chown(self.folder, self.owner.pw_uid, self.owner.pw_gid)
        _run([str(self.bin / "initdb"), "-D", str(self.data), "-U", DB_USER, "--auth=trust"])
        self.start()
        _run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)]
            + ["-U", DB_USER, DB_NAME]
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        _run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log")]
            + ["-w", "-o", f"'{options}'" if _as_db_user()[:1] == ["su"] else options, "start"]
        )

    def uri(self, password: str = "PASSWORD") -> str:
        return f"postgresql+psycopg2://{DB_USER}:{password}@127.0.0.1:{self.port}/{DB_NAME}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)


class MlflowServer:
    """``mlflow server --workers 1`` on a database, in its own process group, restartable."""

    def __init__(self, backend: str, folder: Path, port: int | None = None) -> None:
        self.backend, self.folder = backend, folder
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = folder / "server.log"

    def start(self, timeout: float = 120) -> float:
        """Start and wait until ``/health`` answers; the seconds it took."""
        t0 = time.monotonic()
        mlflow = Path(sys.executable).with_name("mlflow")
        self.proc = subprocess.Popen(
            [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port)]
            + ["--workers", "1", "--backend-store-uri", self.backend]
            + ["--artifacts-destination", str(self.folder / "artifacts")],
            stdout=open(self.log, "a"),  # noqa: SIM115 (the child keeps it)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_health(self.url, timeout, self.proc, self.log)
        return time.monotonic() - t0

    def kill(self) -> None:
        """SIGKILL the server and its workers (its whole process group)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.proc = None


def wait_for_health(url: str, timeout: float, proc=None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            text = log.read_text()[-3000:] if log else ""
            raise AssertionError(f"the server exited ({proc.returncode}):\n{text}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        time.sleep(0.2)
    raise AssertionError(f"{url}/health did not answer within {timeout}s")
