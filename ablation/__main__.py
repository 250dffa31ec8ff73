"""``python -m ablation``: run one cell, or a grid with ``-m`` (Hydra multirun).

python -m ablation                                   # the paper's protocol, one cell
python -m ablation -m init=random,kaiming reg=none,l2 data=42k,60k
python -m ablation -cn paper_table3                  # a named study from sweeps/
python -m ablation -m ... hydra/launcher=local       # cells in parallel, one per core
python -m ablation -m ... hydra/launcher=basic       # cells in turn, each on every core
"""

from __future__ import annotations

import os
import sys
import warnings

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ablation.config import package_dir, register_configs, user_errors
from ablation.launcher import BLAS_THREADS_ENV

register_configs()
# conf/hydra/launcher/{ray,submitit_slurm}.yaml shadow the plugins' configs on purpose
warnings.filterwarnings(
    "ignore", message=r"\s*'hydra/launcher/\w+' is validated against ConfigStore schema"
)

SERIAL_LAUNCHERS = ("BasicLauncher",)


def _blas_threads() -> int | None:
    """The cores a cell may use: set by the auto launcher, 1 side by side, else all."""
    if os.environ.get(BLAS_THREADS_ENV):
        return int(os.environ[BLAS_THREADS_ENV])
    hc = HydraConfig.get()
    if hc.mode == RunMode.MULTIRUN and not hc.launcher._target_.endswith(SERIAL_LAUNCHERS):
        return 1
    return None


@hydra.main(config_path=str(package_dir("conf")), config_name="config", version_base="1.3")
def _app(cfg: DictConfig) -> str:
    from ablation import tracking
    from ablation.experiment import run_cell

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    with user_errors():
        result = run_cell(
            cfg,
            overrides=list(hc.overrides.task),
            parent_run_id=os.environ.get(tracking.PARENT_ENV) if multirun else None,
            progress=not multirun,
            raise_on_failure=False,
            blas_threads=_blas_threads(),
        )
    if result.status == "FAILED" and not multirun:
        raise SystemExit(1)  # the reason is logged and on the run; no traceback needed
    return result.status


def main() -> None:
    from ablation.sweep import FAILED_CELLS

    _app()
    if FAILED_CELLS:
        sys.exit(1)


if __name__ == "__main__":
    main()
