"""The MLflow server process of ``python -m ablation.ui``: bound where asked, in its own
session, stopped with everything it started; its start-up notes filtered for our advice."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

#: MLflow's start-up lines that are noise here: a note for model-registry users, a
#: deprecation inside MLflow (and the source line Python prints under it), our own
#: readiness probes in the access log.
DROPPED_NOTES = (
    "Registry store URI not provided",
    "DeprecationWarning",
    "from starlette.middleware.wsgi import",
    '"GET /health HTTP',
)
#: MLflow's note that contradicts our advice (it suggests ``--host 0.0.0.0``) ...
HOST_NOTE = "--host 0.0.0.0"
#: ... answered in one line instead (``{port}``: the UI's port).
HOST_ANSWER = (
    "note: the UI answers on this machine only (it has no login); from another machine, "
    "open an SSH tunnel rather than --host 0.0.0.0: ssh -L {port}:127.0.0.1:{port} THIS_HOST"
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_problem(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be listened on now (None: it can), checked by binding it."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
    except OSError as err:  # gaierror too
        return err.strerror or str(err)
    return None


def base_url(host: str, port: int) -> str:
    """The URL to open; a wildcard bind (all interfaces) also answers on loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def shown_line(line: str, port: int, *, loopback: bool) -> str | None:
    """What to show of one line of MLflow's output: None to drop it, our answer instead of
    its ``--host 0.0.0.0`` advice (on a loopback bind; else the user chose, and was warned)."""
    if any(note in line for note in DROPPED_NOTES):
        return None
    if HOST_NOTE in line:
        return HOST_ANSWER.format(port=port) + "\n" if loopback else None
    return line


def _term_when_parent_dies():
    """A ``preexec_fn`` (Linux): the child gets SIGTERM when ablation.ui dies, even by
    SIGKILL; the MLflow CLI forwards SIGTERM to its uvicorn server. None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the child

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return preexec


class Server:
    """The MLflow server in its own session: signals reach every process it starts."""

    def __init__(self, cmd: list[str], env: dict[str, str], shown=lambda line: line):
        self.popen = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_term_when_parent_dies(),
        )
        self.pgid = self.popen.pid
        self.port_taken = False
        self._shown = shown
        self._echo = threading.Thread(target=self._copy_output, daemon=True)
        self._echo.start()

    def _copy_output(self) -> None:
        for raw in self.popen.stdout:
            line = raw.decode(errors="replace")
            self.port_taken |= "address already in use" in line.lower()
            line = self._shown(line)
            if line:
                sys.stderr.write(line)
                sys.stderr.flush()

    def members(self) -> list[int]:
        """Live (not zombie) processes of the server's group, read from /proc."""
        if not Path("/proc/self/stat").exists():
            try:
                os.killpg(self.pgid, 0)
                return [self.pgid]
            except ProcessLookupError:
                return []
        alive = []
        for entry in Path("/proc").iterdir():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == self.pgid and fields[0] not in "ZX":
                alive.append(int(entry.name))
        return alive

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)

    def stop(self, timeout: float = STOP_TIMEOUT_S, hurry=lambda: False) -> None:
        """SIGTERM the group, wait for it to empty, SIGKILL what is left after ``timeout``
        (or at once when ``hurry()`` turns true: a second Ctrl-C)."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.members() and time.monotonic() < deadline and not hurry():
            time.sleep(0.1)
        if self.members():
            self.signal(signal.SIGKILL)
        self.popen.wait()
        self._echo.join(timeout=5)


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def serve(
    cmd: list[str], env: dict[str, str], base: str, ready_text: str, shown=lambda line: line
) -> tuple[int, bool]:
    """Run the server until it exits or we get SIGINT/SIGTERM/SIGHUP; no process outlives us.

    ``shown(line)``: what to print of each line of the server's output (None: nothing).
    Returns the exit status (128 + signal after a signal) and whether the port was taken.
    """
    received: list[int] = []

    def on_signal(signum, _frame):
        received.append(signum)

    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, on_signal) for signum in stop_signals}
    ready, next_probe = False, 0.0
    server = Server(cmd, env, shown)
    try:
        # a server that found its port taken never serves: stopped at once (MLflow would
        # take ~8 s more to exit by itself)
        while not received and server.popen.poll() is None and not server.port_taken:
            if not ready and time.monotonic() >= next_probe:
                ready, next_probe = _healthy(base), time.monotonic() + 0.5
                if ready:
                    print(ready_text, flush=True)
            time.sleep(0.1)
    finally:
        server.stop(hurry=lambda: len(received) > 1)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        name = signal.Signals(received[0]).name
        print(f"stopped the MLflow UI ({name})", file=sys.stderr, flush=True)
        return 128 + received[0], False
    if server.port_taken:
        return 1, True
    code = server.popen.returncode
    return (code or 1), False  # the server never stops by itself when all is well
