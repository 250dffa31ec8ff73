"""``python -m <module> args`` in a real process that starts warm.

Much of the suite's CPU went to new interpreters importing MLflow, SQLAlchemy, Hydra and
pandas (3,500 modules) for each of its ~230 commands: a sweep that finds nothing to do took
3.4 s of CPU in a fresh interpreter and takes 0.6 s forked (2026-12-07). Here one
interpreter per pytest worker, the zygote, imports that stack once and then forks a child
for each command. The child is a process of its own (pid, session, file descriptors,
signals, exit status) and is set up the way ``python -m`` sets up a fresh one: the
command's argv, working directory, environment and ``sys.path[0]``; the module run by
:mod:`runpy` as ``__main__``; at the end non-daemon threads joined, ``atexit`` handlers
run, streams flushed; an uncaught KeyboardInterrupt ends it by SIGINT, as CPython does.

A fork cannot give a command an interpreter started under its own settings. So a command
runs in a fresh interpreter, as before, when its environment differs from the zygote's in
anything besides ``ABLATION_*`` and ``MLFLOW_TRACKING_URI`` (read when used; start-up reads
PYTHON*, BLAS threads, matplotlib's and the temp folder's variables), when it needs
interpreter flags, a ``preexec_fn`` or another Python, and always when
``ABLATION_TEST_FRESH=1`` is set for the suite. (``ps`` shows a forked command with the
zygote's command line; ``sys.argv`` and ``sys.orig_argv`` are the command's.)

:func:`run` and :class:`Popen` take the arguments of their :mod:`subprocess` namesakes that
the suite uses, and fall back to them.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import pkgutil
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: Variables that may differ between a command and the zygote: read when used, never at
#: start-up (ours; MLflow's store address, HTTP retries (tracking/outage.py sets them in the
#: suite's workers) and telemetry session; pytest's name of the running test).
FREE_ENV = re.compile(
    r"ABLATION_(?!TEST_).*|MLFLOW_TRACKING_URI|MLFLOW_HTTP_REQUEST_(MAX_RETRIES|TIMEOUT)"
    r"|MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT|_MLFLOW_TELEMETRY_SESSION_ID|PYTEST_CURRENT_TEST"
)
#: What the zygote imports: what ``python -m ablation`` (a sweep and its report),
#: ``ablation.report`` and ``ablation.ui`` import, so that a child imports almost nothing.
PRELOAD = (
    "mlflow",
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.db.utils",
    "alembic.command",
    "hydra",
    "hydra._internal.hydra",
    "hydra._internal.utils",
    "hydra.core.plugins",
    "pandas",
    "scipy.stats",
    "statsmodels.api",
    "statsmodels.formula.api",
    "sklearn.datasets",
    "sklearn.model_selection",
    "matplotlib.pyplot",
    "seaborn",
    "joblib",
    "tqdm",
)


# -- the zygote (its own interpreter: ``python -c "from tests.zygote import serve; serve()"``) --


def _preload() -> None:
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    import ablation
    import hydra_plugins

    for package in (ablation, hydra_plugins):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            last = info.name.rsplit(".", 1)[-1]
            if last == "__main__" or (package is hydra_plugins and last.startswith("_")):
                continue  # runpy runs a __main__; Hydra's plugin scan skips _private modules
            with contextlib.suppress(Exception):
                importlib.import_module(info.name)


def serve() -> None:
    """Listen on ``sys.argv[1]``; fork a child per request; send its pid, then its exit
    status. Ends when stdin (a pipe from the pytest worker) closes."""
    _preload()
    path = sys.argv[1]
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    os.set_blocking(wake_r, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select via the fd above
    waiting: dict[int, socket.socket] = {}
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        readable, _, _ = select.select([listener, wake_r, sys.stdin], [], [], 5.0)
        if sys.stdin in readable and not os.read(sys.stdin.fileno(), 1024):
            return  # the worker is gone
        if listener in readable:
            conn, _ = listener.accept()
            request, fds = _receive(conn)
            pid = os.fork()
            if pid == 0:
                listener.close()
                for other in waiting.values():
                    other.close()
                os.close(wake_r)
                os.close(wake_w)
                _child(request, fds, conn)  # never returns
            for fd in fds:
                os.close(fd)
            waiting[pid] = conn
            _send(conn, {"pid": pid})
        with contextlib.suppress(BlockingIOError):
            os.read(wake_r, 4096)
        while waiting:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = waiting.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    _send(conn, {"exit": os.waitstatus_to_exitcode(status)})
                conn.close()


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while not data.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            break
        data += more
    return json.loads(data), list(fds)


def _send(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _child(request: dict, fds: list[int], conn: socket.socket) -> None:
    """Become ``python -m module args`` in the request's cwd and environment; exit."""
    code = 1
    try:
        conn.close()
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        if request["new_session"]:
            os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = os.getcwd()  # what `python -m` puts first
        importlib.invalidate_caches()
        sys.argv = [request["module"], *request["args"]]
        sys.orig_argv = [sys.executable, "-m", *sys.argv]
        code = _run_as_main(request["module"])
    except BaseException:  # noqa: BLE001 - the child must never return into the zygote loop
        with contextlib.suppress(BaseException):
            sys.excepthook(*sys.exc_info())
    finally:
        os._exit(code)


def _run_as_main(module: str) -> int:
    """What ``python -m module`` does from running the module to the process's end."""
    import runpy

    try:
        runpy._run_module_as_main(module, alter_argv=True)
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    except BaseException as err:  # noqa: BLE001 - the traceback from runpy's frame on, as CPython's
        err.__traceback__ = err.__traceback__.tb_next
        sys.excepthook(type(err), err, err.__traceback__)
        code = -signal.SIGINT if isinstance(err, KeyboardInterrupt) else 1
    threading._shutdown()  # as Py_Finalize: wait for non-daemon threads, then atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if code == -signal.SIGINT:  # CPython ends an interrupted process by the signal itself
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        code = 130
    return code


def _exit_code(value) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    with contextlib.suppress(Exception):
        print(value, file=sys.stderr)
    return 1


# -- the client (in the pytest worker) ----------------------------------------------------------


class _Zygote:
    """The worker's zygote, started at first use (``get``: None if it could not start)."""

    lock = threading.Lock()
    proc: subprocess.Popen | None = None
    path: str = ""
    env: dict[str, str] = {}
    failed = False

    @classmethod
    def get(cls) -> _Zygote | None:
        with cls.lock:
            if cls.proc is None and not cls.failed:
                cls._start()
            return cls if cls.proc is not None else None

    @classmethod
    def _start(cls) -> None:
        folder = tempfile.mkdtemp(prefix="zyg-")
        cls.path = os.path.join(folder, "s")
        cls.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(
            [sys.executable, "-c", "from tests.zygote import serve; serve()", cls.path],
            cwd=REPO,
            env=cls.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a signal to the worker's group is not for it
        )
        atexit.register(cls._stop)
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        if not ready or proc.stdout.readline() != b"ready\n":
            proc.kill()
            proc.wait()
            cls.failed = True
            return
        cls.proc = proc

    @classmethod
    def _stop(cls) -> None:
        """At the worker's exit: the zygote ends when its stdin closes; its socket goes."""
        if cls.proc is not None:
            cls.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                cls.proc.wait(timeout=10)
        shutil.rmtree(os.path.dirname(cls.path), ignore_errors=True)

    @classmethod
    def takes(cls, env: dict[str, str]) -> bool:
        keys = set(env) | set(cls.env)
        return all(env.get(k) == cls.env.get(k) or FREE_ENV.fullmatch(k) for k in keys)


def _forkable(args, env, kwargs) -> tuple[str, list[str]] | None:
    """(module, args) when ``args`` is ``[sys.executable, "-m", module, ...]`` and nothing
    else asks for a fresh interpreter."""
    asked = {key for key, value in kwargs.items() if value is not None}
    if os.environ.get("ABLATION_TEST_FRESH") == "1" or asked - {"start_new_session"}:
        return None
    args = [str(a) for a in args]
    if len(args) < 3 or args[0] != sys.executable or args[1] != "-m":
        return None
    zygote = _Zygote.get()
    if zygote is None or not zygote.takes(env):
        return None
    return args[2], args[3:]


def Popen(  # noqa: N802 - subprocess's name: a drop-in for it
    args, *, cwd=None, env=None, stdin=None, stdout=None, stderr=None, text=False, **kwargs
):
    """:class:`subprocess.Popen` for ``[sys.executable, "-m", module, ...]``: a fork of the
    zygote when it can be (see the module's docstring), else a fresh interpreter.

    Takes ``cwd``, ``env``, ``stdout``/``stderr`` (PIPE, STDOUT, DEVNULL, a file or None),
    ``text`` and ``start_new_session``; anything else goes to a fresh interpreter."""
    env = dict(os.environ if env is None else env)
    target = _forkable(args, env, kwargs) if stdin is None else None
    if target is None:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=text,
            **kwargs,
        )
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(_Zygote.path)
    except OSError:  # the zygote is gone: this and later commands start fresh
        _Zygote.failed, _Zygote.proc = True, None
        conn.close()
        return Popen(args, cwd=cwd, env=env, stdout=stdout, stderr=stderr, text=text, **kwargs)
    return Forked(
        conn, args, target, cwd, env, stdout, stderr, text, kwargs.get("start_new_session", False)
    )


class Forked:
    """A command forked from the zygote, with the attributes and methods of a Popen that
    the suite uses: ``pid``, ``stdout``, ``stderr``, ``returncode``, ``poll``, ``wait``,
    ``communicate``, ``send_signal``, ``terminate``, ``kill``. Its stdin is /dev/null."""

    def __init__(self, conn, args, target, cwd, env, stdout, stderr, text, new_session) -> None:
        self.args = args
        self.returncode: int | None = None
        theirs = []

        def pipe_or(spec, fallback: int):
            if spec == subprocess.PIPE:
                r, w = os.pipe()
                theirs.append(w)
                return w, os.fdopen(r, "r" if text else "rb")
            if spec == subprocess.DEVNULL:
                fd = os.open(os.devnull, os.O_RDWR)
                theirs.append(fd)
                return fd, None
            if spec is None:
                return fallback, None
            return (spec if isinstance(spec, int) else spec.fileno()), None

        null = os.open(os.devnull, os.O_RDONLY)
        theirs.append(null)
        out_fd, self.stdout = pipe_or(stdout, 1)
        if stderr == subprocess.STDOUT:
            err_fd, self.stderr = out_fd, None
        else:
            err_fd, self.stderr = pipe_or(stderr, 2)
        self.stdin = None
        request = {
            "module": target[0],
            "args": target[1],
            "cwd": os.path.abspath(cwd or os.getcwd()),
            "env": env,
            "new_session": bool(new_session),
        }
        self._conn = conn
        try:
            payload = json.dumps(request).encode() + b"\n"
            socket.send_fds(self._conn, [payload], [null, out_fd, err_fd])
        finally:
            for fd in theirs:
                os.close(fd)
        self._reader = self._conn.makefile("rb")
        self.pid = json.loads(self._reader.readline())["pid"]

    def _collect(self, timeout: float | None) -> bool:
        if self.returncode is not None:
            return True
        ready, _, _ = select.select([self._conn], [], [], timeout)
        if not ready:
            return False
        line = self._reader.readline()
        self.returncode = json.loads(line)["exit"] if line else -signal.SIGKILL
        self._reader.close()
        self._conn.close()
        return True

    def poll(self) -> int | None:
        self._collect(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._collect(timeout):
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input=None, timeout: float | None = None):  # noqa: A002
        """Read stdout and stderr to their ends, then wait; TimeoutExpired after
        ``timeout`` seconds (call again to go on, as with subprocess)."""
        if not hasattr(self, "_chunks"):
            self._chunks = {}
            self._threads = []
            for name in ("stdout", "stderr"):
                stream = getattr(self, name)
                if stream is not None:
                    self._chunks[name] = []
                    t = threading.Thread(
                        target=lambda s=stream, c=self._chunks[name]: c.append(s.read()),
                        daemon=True,
                    )
                    t.start()
                    self._threads.append(t)
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        got = {name: chunks[0] for name, chunks in self._chunks.items()}
        return got.get("stdout"), got.get("stderr")


def run(
    args,
    *,
    cwd=None,
    env=None,
    capture_output=False,
    text=False,
    timeout=None,
    check=False,
    **kwargs,
) -> subprocess.CompletedProcess:
    """:func:`subprocess.run` for ``[sys.executable, "-m", module, ...]``, forked from the
    zygote when it can be (see :class:`Popen`)."""
    if capture_output:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc = Popen(args, cwd=cwd, env=env, text=text, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            out, err = proc.communicate(timeout=30)
            expired.output, expired.stderr = out, err
        raise
    result = subprocess.CompletedProcess(args, proc.returncode, out, err)
    if check:
        result.check_returncode()
    return result
