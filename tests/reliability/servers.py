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

REPO = Path(__file__).resolve().parents[2]

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
    """Prefix for commands that must not run as root (util-linux's runuser)."""
    if os.geteuid() != 0:
        return []
    return [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*_as_db_user(), *cmd], capture_output=True, text=True, check=True, timeout=120
    )


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
            if not shutil.which("runuser"):
                pytest.skip("running as root and there is no runuser to run PostgreSQL with")
        self.folder = Path(tempfile.mkdtemp(prefix="ablation-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        if os.geteuid() == 0:
            os.chown(self.folder, self.owner.pw_uid, self.owner.pw_gid)
        _run([str(self.bin / "initdb"), "-D", str(self.data), "-U", DB_USER, "--auth=trust"])
        self.start()

    def create_db(self, name: str = DB_NAME) -> None:
        _run(
            [str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port)]
            + ["-U", DB_USER, name]
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        _run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "log")]
            + ["-w", "-o", options, "start"]
        )

    def uri(self, db: str = DB_NAME) -> str:
        return f"postgresql+psycopg2://{DB_USER}:PASSWORD@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            _run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"])
        shutil.rmtree(self.folder, ignore_errors=True)


def readme_recipe() -> list[str]:
    """The commands of README's "An MLflow server for the results" block, one per entry
    (continuation lines joined), as written."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("### 1. An MLflow server for the results") :]
    block = section[section.index("```bash\n") + 8 : section.index("```\n", 8)]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def localise(command: str, *, port: int, pg_port: int, folder: Path) -> str:
    """A README command with this machine's names put in: the server on 127.0.0.1:``port``,
    the database on 127.0.0.1:``pg_port``, /srv/mlflow under ``folder``."""
    return (
        command.replace("@db-host/", f"@127.0.0.1:{pg_port}/")
        .replace("mlflow-host", "127.0.0.1")
        .replace("0.0.0.0", "127.0.0.1")
        .replace("5000", str(port))
        .replace("/srv/mlflow", str(folder))
    )


class MlflowServer:
    """An ``mlflow server`` command in its own process group, restartable."""

    def __init__(self, command: str, port: int, folder: Path) -> None:
        words = shlex.split(command.split("#", 1)[0])
        self.env = {**os.environ}
        while "=" in words[0]:  # VAR=value before the command
            key, value = words.pop(0).split("=", 1)
            self.env[key] = value
        assert words[:2] == ["mlflow", "server"], command
        self.argv = [str(Path(sys.executable).with_name("mlflow")), *words[1:]]
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log = folder / "server.log"

    def start(self, timeout: float = 180) -> float:
        """Start and wait until ``/health`` answers; the seconds it took."""
        t0 = time.monotonic()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
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
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as a:
            if a.status == 200:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url}/health did not answer within {timeout}s")
