"""``python -m ablation``: run one cell, or a grid with ``-m`` (Hydra multirun).

python -m ablation                                   # the paper's protocol, one cell
python -m ablation -m init=random,kaiming reg=none,l2 data=42k,60k
python -m ablation -cn paper_table3                  # a named study from sweeps/
python -m ablation -m ... hydra/launcher=local       # cells in parallel, one per core
python -m ablation -m ... hydra/launcher=basic       # cells in turn, each on every core

Exit status: 0 done; 1 a cell failed (raised by ``ablation.sweep.callback.SweepCallback`` at its
end) or something broke; 2 bad input (one ``error:`` line, nothing run); 128 + the signal
after SIGINT (130), SIGTERM (143) or SIGHUP (129), with the running cell and the sweep's
parent run marked KILLED. Whatever ends the process, a parent run it opened is closed.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ablation.config.primary import check_study_file
from ablation.config.schema import package_dir, register_configs
from ablation.errors import exit_status, print_error, quiet_store_tracebacks
from ablation.run.signals import as_interrupted, ignore_stop_signals, raise_on_stop_signals
from ablation.startup import tune_gc


def _app(cfg: DictConfig) -> str:
    from ablation.cell.cell import Cell
    from ablation.errors import user_errors
    from ablation.sweep import launcher

    quiet_store_tracebacks()  # in a joblib worker too
    tune_gc()  # idem: a worker imports MLflow for its first cell
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    # a joblib worker's cell is stopped by a signal like the sweep (no-op in the sweep's
    # own process, where main() installed the handlers)
    with raise_on_stop_signals(), user_errors():
        cell = Cell.from_config(cfg, list(hc.overrides.task))
        # after the config is checked: a refused one never imports MLflow (seconds)
        from ablation.run.job import SweepInfo, run_cell

        result = run_cell(
            cell,
            sweep=SweepInfo.from_env_set(hc.job.env_set) if multirun else None,
            progress=not multirun,
            raise_on_failure=False,
            blas_threads=launcher.blas_threads(hc.launcher if multirun else None),
        )
    if result.status == "FAILED" and not multirun:
        raise SystemExit(1)  # the reason is logged and on the run; no traceback needed
    return result.status


#: Hydra prints the config of --help and --cfg with ${...} unresolved unless --resolve.
SHOWS_CONFIG = ("--help", "-h", "--cfg", "-c")


def resolve_shown_config(argv: list[str]) -> list[str]:
    """``argv`` plus ``--resolve`` when it asks to see the config (layer sizes, not
    ``${depth_hidden:${depth}}``); unchanged otherwise."""
    if "--resolve" in argv or not any(a.split("=")[0] in SHOWS_CONFIG for a in argv[1:]):
        return argv
    # Hydra cannot resolve the hydra node on its own (it refers to the job's keys,
    # e.g. ${experiment_name}): --cfg hydra stays as Hydra prints it
    for i, arg in enumerate(argv[1:], start=1):
        value = arg.split("=", 1)[1] if arg.startswith("--cfg=") else None
        if arg in ("--cfg", "-c") and i + 1 < len(argv):
            value = argv[i + 1]
        if value == "hydra":
            return argv
    return [*argv, "--resolve"]


@contextlib.contextmanager
def _hydra_raises():
    """Hydra re-raises what its app and composition raise (instead of printing its own
    multi-line report, with a HYDRA_FULL_ERROR hint, and exiting 1): :func:`main` turns it
    into one line and the right exit status. This is Hydra's documented switch; it is the
    only hook before Hydra's ``run_and_report`` swallows the exception."""
    before = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = before


def main() -> None:
    tune_gc()  # before MLflow, matplotlib and the report's stack are imported
    # here, not at import: importing ablation.__main__ registers nothing
    register_configs()
    sys.argv = resolve_shown_config(sys.argv)
    quiet_store_tracebacks()
    try:
        with raise_on_stop_signals(), _hydra_raises(), warnings.catch_warnings():
            # a study yaml without `defaults: [config, _self_]`: one line, before Hydra
            # creates anything (it would hint `+seed` and leave multirun/ folders)
            check_study_file(sys.argv[1:])
            # conf/hydra/launcher/{ray,submitit_slurm}.yaml shadow the plugins' configs on purpose
            warnings.filterwarnings(
                "ignore", message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema"
            )
            hydra.main(
                config_path=str(package_dir("conf")), config_name="config", version_base="1.3"
            )(_app)()
    except BaseException as err:
        # a second signal neither cuts the closing short nor kills the process before its
        # one line (the handlers are the defaults again once raise_on_stop_signals is left)
        with ignore_stop_signals():
            code = _finish(err)
        raise SystemExit(code) from None


def _finish(err: BaseException) -> int:
    """Close what the process left open, print one line, and return the exit status.
    Called with stop signals ignored."""
    code, message = exit_status(err)
    if message:
        print_error(message)
    if code != 0 and "ablation.sweep" in sys.modules:  # a sweep started: close its parent
        from ablation.sweep.callback import close_open_sweeps

        stop = as_interrupted(err)
        status = "KILLED" if stop else "FAILED"
        reason = stop.reason if stop else (message or f"exit status {code}").removeprefix("error: ")
        for problem in close_open_sweeps(status, reason.splitlines()[0]):
            print_error(f"error: {problem}")
    return code


if __name__ == "__main__":
    main()
