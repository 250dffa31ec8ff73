"""Hydra launcher plugin ``hydra/launcher=auto``: see ``ablation.launcher`` for the rules."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from ablation.launcher import BLAS_THREADS_ENV, cores, in_turn

_BASIC_LOG = logging.getLogger("hydra._internal.core_plugins.basic_launcher")


def _drop_job_lines(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("\t#")


class AutoLauncher(Launcher):
    """Delegates to Hydra's basic launcher or to the joblib launcher (see the module doc).

    ``joblib`` keyword arguments (``n_jobs``, ``backend``, ...) are passed to the joblib
    launcher when the cells run in parallel.
    """

    def __init__(self, **joblib: Any) -> None:
        self.joblib = joblib
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        cfgs = [loader.load_sweep_config(self.config, list(o)) for o in job_overrides]
        if in_turn(cfgs):
            from hydra._internal.core_plugins.basic_launcher import BasicLauncher

            launcher, threads = BasicLauncher(), cores()
            # one console line per cell: the cell's own "done ..." line, not also Hydra's
            # "#k : overrides" line before it
            _BASIC_LOG.addFilter(_drop_job_lines)
        else:
            from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

            launcher, threads = JoblibLauncher(**self.joblib), 1
        launcher.setup(
            hydra_context=self.hydra_context, task_function=self.task_function, config=self.config
        )
        before = os.environ.get(BLAS_THREADS_ENV)
        if before is None:  # the user's own setting wins; joblib's workers inherit this one
            os.environ[BLAS_THREADS_ENV] = str(threads)
        try:
            return launcher.launch(job_overrides, initial_job_idx)
        finally:
            if before is None:
                os.environ.pop(BLAS_THREADS_ENV, None)
