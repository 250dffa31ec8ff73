"""``python -m ablation.ui``: the MLflow UI on this project's store, bound to 127.0.0.1.

python -m ablation.ui                       # store in ./mlruns, http://127.0.0.1:5000
python -m ablation.ui --port 5001 --tracking-uri sqlite:////abs/mlruns/mlflow.db

It prints one link per experiment that opens MLflow's training view (not the GenAI
overview) with the runs flat, best test/acc first, and the params that vary as columns.
Ctrl-C or SIGTERM stops the server and everything it started; the exit status is then
128 + the signal (130 for Ctrl-C, 143 for SIGTERM). A busy port exits 2 with one line.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from ablation.errors import print_error
from ablation.tracking import (
    TAG_ROLE,
    TrackingError,
    check_sqlite_file,
    check_uri,
    resolve_uri,
    retry,
    sqlite_path,
)

#: The experiment tag MLflow's "Share view" button writes; ``?viewStateShareKey=`` loads it.
SHARED_VIEW_TAG = "mlflow.sharedViewState.ablation"
#: MLflow 3.x shows the GenAI overview unless the URL (or the browser) asks for this.
TRAINING_VIEW = "workflowType=machine_learning"
METRIC_COLUMNS = ("test/acc", "train/acc", "test/loss")
MAX_PARAM_COLUMNS = 8
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def _base_url(host: str, port: int) -> str:
    """The URL to open; a wildcard bind (all interfaces) also answers on loopback."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host}:{port}"
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"http://[{address}]:{port}" if address.version == 6 else f"http://{address}:{port}"


def _param_order(key: str) -> tuple[int, str]:
    """Grid factors first (``init.name``, ``reg.name``, ``data.*``), then the rest."""
    first = ("init.", "reg.", "data.", "optim.name", "depth", "seed")
    return next((i for i, p in enumerate(first) if key.startswith(p)), len(first)), key


def view_state(runs: list) -> dict:
    """A runs-table view: cells flat, best test/acc first, varying params + accuracy shown."""
    values: dict[str, set[str]] = {}
    for run in runs:
        for key, value in run.data.params.items():
            values.setdefault(key, set()).add(value)
    varying = [k for k, v in values.items() if len(v) > 1]
    if not varying:  # one cell: show what it is
        varying = [k for k in ("init.name", "reg.name", "data.name") if k in values]
    varying = sorted(varying, key=_param_order)[:MAX_PARAM_COLUMNS]
    logged = {m for run in runs for m in run.data.metrics}
    columns = [f"params.`{k}`" for k in varying]
    columns += [f"metrics.`{m}`" for m in METRIC_COLUMNS if m in logged]
    return {
        # sorting by anything but the start time lists child runs flat, not under the sweep
        "orderByKey": "metrics.`test/acc`",
        "orderByAsc": False,
        "selectedColumns": columns,
    }


def experiment_links(uri: str, base: str) -> list[tuple[str, str]]:
    """(experiment name, training-view URL) for each experiment with runs in the store.

    Experiments holding cell runs get a shared view (one experiment tag, written only
    when it changed) so the link opens with the useful columns; else the link sorts only.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    links = []
    for exp in retry(client.search_experiments):
        cells = retry(
            client.search_runs,
            [exp.experiment_id],
            filter_string=f"tags.`{TAG_ROLE}` = 'cell'",
            max_results=1000,
        )
        if not cells and not retry(client.search_runs, [exp.experiment_id], max_results=1):
            continue
        url = f"{base}/#/experiments/{exp.experiment_id}/runs?{TRAINING_VIEW}"
        state = view_state(cells) if cells else None
        if state is not None and _share(client, exp, state):
            url += "&viewStateShareKey=" + SHARED_VIEW_TAG.rsplit(".", 1)[1]
        else:
            url += "&orderByKey=" + urllib.parse.quote("metrics.`test/acc`") + "&orderByAsc=false"
        links.append((exp.name, url))
    return links


def _share(client, exp, state: dict) -> bool:
    value = json.dumps(state, sort_keys=True)
    if exp.tags.get(SHARED_VIEW_TAG) == value:
        return True
    try:
        retry(client.set_experiment_tag, exp.experiment_id, SHARED_VIEW_TAG, value)
    except Exception as err:  # a read-only store: links still work, without the columns
        print(f"note: cannot save the runs-table view ({err}); columns stay MLflow's", flush=True)
        return False
    return True


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

    def __init__(self, cmd: list[str], env: dict[str, str]):
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
        self._echo = threading.Thread(target=self._copy_output, daemon=True)
        self._echo.start()

    def _copy_output(self) -> None:
        for raw in self.popen.stdout:
            line = raw.decode(errors="replace")
            self.port_taken |= "address already in use" in line.lower()
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


def serve(cmd: list[str], env: dict[str, str], base: str, ready_text: str) -> tuple[int, bool]:
    """Run the server until it exits or we get SIGINT/SIGTERM/SIGHUP; no process outlives us.

    Returns the exit status (128 + signal after a signal) and whether the port was taken.
    """
    received: list[int] = []

    def on_signal(signum, _frame):
        received.append(signum)

    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, on_signal) for signum in stop_signals}
    ready, next_probe = False, 0.0
    server = Server(cmd, env)
    try:
        while not received and server.popen.poll() is None:
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
    code = server.popen.returncode
    return (code or 1), server.port_taken  # the server never stops by itself when all is well


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ablation.ui",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="store to browse (default: $MLFLOW_TRACKING_URI or ./mlruns)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="interface to bind (default 127.0.0.1: this machine only; the UI has no login)",
    )
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes (default 1: light on a shared machine)",
    )
    args = parser.parse_args(argv)

    uri = resolve_uri(args.tracking_uri)
    try:
        check_uri(uri)
        db = sqlite_path(uri)
        if db is not None:  # MLflow's server would add its tables to any file it is given
            check_sqlite_file(db, reading=True)
    except TrackingError as err:
        print_error(f"error: {err}")
        return 2
    busy = port_problem(args.host, args.port)
    if busy is not None:
        print_error(
            f"error: cannot listen on {args.host}:{args.port} ({busy}); stop what uses it "
            "or pass another --port"
        )
        return 2
    if not is_loopback(args.host):
        print(
            f"warning: --host {args.host} opens the MLflow UI to the network, and it has no "
            "login: anyone who reaches this port can read and change every run",
            file=sys.stderr,
            flush=True,
        )
    base = _base_url(args.host, args.port)
    print(f"MLflow UI for {uri}\n  starting on {base}  (Ctrl-C to stop)", flush=True)
    try:
        links = experiment_links(uri, base)
    except Exception as err:  # a damaged or foreign store: one line, not a traceback
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        print_error(f"error: cannot read the tracking store {uri}: {first}")
        return 2
    width = max((len(name) for name, _ in links), default=0)
    ready_text = "\n".join(
        [
            "MLflow UI ready: open the training view of an experiment (runs, best test/acc first):",
            *(f"  {name:<{width}}  {url}" for name, url in links),
            f"  all experiments: {base}/#/experiments?{TRAINING_VIEW}",
            '  (in the UI, the "Model training" switch at the top left keeps this view)',
        ]
    )

    cmd = [
        sys.executable,  # this Python's MLflow, whatever `mlflow` is first on PATH
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
    ]
    if db is not None:
        cmd += ["--default-artifact-root", (db.parent / "artifacts").as_uri()]
    # MLflow's background job runner is for GenAI features; browsing runs does not need it.
    # Its import-time deprecation warnings are not the user's to fix.
    env = {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
        **os.environ,
    }
    code, port_taken = serve(cmd, env, base, ready_text)
    if port_taken:
        print(
            f"error: cannot listen on {args.host}:{args.port} (Address already in use); "
            "stop what uses it or pass another --port",
            file=sys.stderr,
        )
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
