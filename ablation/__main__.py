"""``python -m ablation``: run one cell, or a grid with ``-m`` (Hydra multirun).

python -m ablation                                   # the paper's protocol, one cell
python -m ablation -m init=random,kaiming reg=none,l2 data=42k,60k
python -m ablation -cn paper_table3                  # a named study from sweeps/
python -m ablation -m ... hydra/launcher=local       # cells in parallel, one per core
python -m ablation -m ... hydra/launcher=basic       # cells in turn, each on every core

A sweep with a failed cell exits 1 (raised by ``ablation.sweep.SweepCallback`` at its end).
"""

from __future__ import annotations

import sys
import warnings

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ablation.config import package_dir, register_configs


def _app(cfg: DictConfig) -> str:
    from ablation import launcher
    from ablation.cell import Cell
    from ablation.errors import user_errors
    from ablation.experiment import SweepInfo, run_cell

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    with user_errors():
        cell = Cell.from_config(cfg, list(hc.overrides.task))
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


def main() -> None:
    # here, not at import: importing ablation.__main__ registers nothing
    register_configs()
    sys.argv = resolve_shown_config(sys.argv)
    # conf/hydra/launcher/{ray,submitit_slurm}.yaml shadow the plugins' configs on purpose
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema"
        )
        hydra.main(config_path=str(package_dir("conf")), config_name="config", version_base="1.3")(
            _app
        )()


if __name__ == "__main__":
    main()
