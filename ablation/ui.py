"""``python -m ablation.ui``: the MLflow UI on this project's store, bound to 127.0.0.1.

python -m ablation.ui                       # store in ./mlruns, http://127.0.0.1:5000
python -m ablation.ui --port 5001 --tracking-uri sqlite:////abs/mlruns/mlflow.db
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from ablation.tracking import resolve_uri, sqlite_path


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
        help="interface to bind (default 127.0.0.1: this machine only)",
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
    db = sqlite_path(uri)
    if db is not None and not db.exists():
        print(
            f"error: no tracking store at {db}; run a sweep first (python -m ablation -m ...) "
            "or pass --tracking-uri",
            file=sys.stderr,
        )
        return 2
    mlflow = shutil.which("mlflow") or f"{sys.executable} -m mlflow"
    cmd = [
        *mlflow.split(),
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
    print(
        f"MLflow UI for {uri}\n  open http://{args.host}:{args.port}  (Ctrl-C to stop)", flush=True
    )
    # MLflow's background job runner is for GenAI features; browsing runs does not need it
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
