"""``python -m ablation.ui``: the MLflow UI on this project's store, bound to 127.0.0.1.

python -m ablation.ui                       # store in ./mlruns, http://127.0.0.1:5000
python -m ablation.ui --port 5001 --tracking-uri sqlite:////abs/mlruns/mlflow.db

It prints one link per experiment that opens MLflow's training view (not the GenAI
overview) with the seeds of each cell grouped (the mean of each metric, a min-max band in
the charts), best cell first, and the newest sweep run (the dashboard: what happened, the
best cell, report.html). Ctrl-C or SIGTERM stops the server and everything it started; the
exit status is then 128 + the signal (130 for Ctrl-C, 143 for SIGTERM). A busy port exits
2 with one line.
"""

from __future__ import annotations

import argparse
import os
import sys

from ablation.errors import print_error
from ablation.startup import tune_gc
from ablation.tracking import TrackingError, check_sqlite_file, check_uri, resolve_uri, sqlite_path
from ablation.ui.server import base_url, is_loopback, port_problem, serve, shown_line
from ablation.ui.views import TRAINING_VIEW, experiment_links


def _arguments(argv: list[str] | None) -> argparse.Namespace:
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
    return parser.parse_args(argv)


def ready_text(links: list[tuple[str, str]], sweep: tuple[str, str] | None, base: str) -> str:
    """What is printed once the server answers: the links to open."""
    width = max((len(name) for name, _ in links), default=0)
    lines = [
        "MLflow UI ready: open the training view of an experiment (runs grouped by cell, "
        "best first):",
        *(f"  {name:<{width}}  {url}" for name, url in links),
        f"  all experiments: {base}/#/experiments?{TRAINING_VIEW}",
    ]
    if sweep is not None:
        name, url = sweep
        lines.append("  latest sweep run (what happened, the best cell, report.html):")
        lines.append(f"    {name}  {url}")
    lines.append('  (in the UI, the "Model training" switch at the top left keeps this view)')
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    tune_gc()  # ablation.startup: before the stack is imported
    args = _arguments(argv)
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
    loopback = is_loopback(args.host)
    if not loopback:
        print(
            f"warning: --host {args.host} opens the MLflow UI to the network, and it has no "
            "login: anyone who reaches this port can read and change every run",
            file=sys.stderr,
            flush=True,
        )
    base = base_url(args.host, args.port)
    print(f"MLflow UI for {uri}\n  starting on {base}  (Ctrl-C to stop)", flush=True)
    try:
        links, sweep = experiment_links(uri, base)
    except Exception as err:  # a damaged or foreign store: one line, not a traceback
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        print_error(f"error: cannot read the tracking store {uri}: {first}")
        return 2

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
    code, port_taken = serve(
        cmd,
        env,
        base,
        ready_text(links, sweep, base),
        shown=lambda line: shown_line(line, args.port, loopback=loopback),
    )
    if port_taken:
        print_error(
            f"error: cannot listen on {args.host}:{args.port} (Address already in use); "
            "stop what uses it or pass another --port"
        )
        return 2
    return code
