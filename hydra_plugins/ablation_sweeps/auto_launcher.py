"""Hydra launcher plugin ``hydra/launcher=auto``: see ``ablation.sweep.launcher`` for the rules."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from ablation.errors import ConfigError

_BASIC_LOG = logging.getLogger("hydra._internal.core_plugins.basic_launcher")


def _drop_job_lines(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("\t#")


class _ComposedLoader:
    """Hydra's config loader for the basic launcher, except that a job the sweep callback
    composed and checked gets its config from the callback's builder
    (``ablation.sweep.grid.CellBuilder.job_config``, the config Hydra would compose) instead
    of being composed again: ~0.08 s of CPU a cell, ~15 minutes for a 10,000-cell grid."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __getattr__(self, name: str) -> Any:  # what is not defined here: Hydra's loader
        if name == "loader":  # not set yet (a copy being made): no endless lookup
            raise AttributeError(name)
        return getattr(self.loader, name)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]):
        from ablation.sweep.callback import COMPOSED_JOBS

        builder = COMPOSED_JOBS.get(tuple(sweep_overrides))
        config = builder.job_config(master_config, sweep_overrides) if builder else None
        if config is None:
            return self.loader.load_sweep_config(master_config, sweep_overrides)
        return config


class AutoLauncher(Launcher):
    """Delegates to Hydra's basic launcher or to the joblib launcher (see the module doc).

    ``in_turn`` is decided by ``ablation.sweep.callback.SweepCallback`` from the cells it composed
    (so this launcher composes nothing). ``joblib`` keyword arguments (``n_jobs``,
    ``backend``, ...) are passed to the joblib launcher when the cells run in parallel.
    """

    def __init__(
        self, in_turn: bool | None = None, jobs_to_run: Sequence | None = None, **joblib: Any
    ) -> None:
        self.in_turn = in_turn
        #: the jobs the sweep callback found not FINISHED (None: all); the others are not
        #: launched, so Hydra's "Launching k jobs" counts only what will train
        self.jobs_to_run = None if jobs_to_run is None else {tuple(j) for j in jobs_to_run}
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
        if self.in_turn is None:
            raise ConfigError(
                "hydra/launcher=auto needs the sweep callback (hydra.callbacks.tracking in "
                "conf/config.yaml) to choose; or pick hydra/launcher=basic or =local"
            )
        if self.jobs_to_run is not None:
            job_overrides = [j for j in job_overrides if tuple(j) in self.jobs_to_run]
            if not job_overrides:
                return []
        if self.in_turn:
            # Hydra has no public name for its default launcher; importing the class is the
            # only way to delegate to it
            from hydra._internal.core_plugins.basic_launcher import BasicLauncher

            launcher = BasicLauncher()
            # one console line per cell: the cell's own "done ..." line, not also Hydra's
            # "#k : overrides" line before it (this sweep only: removed below)
            _BASIC_LOG.addFilter(_drop_job_lines)
            context = dataclasses.replace(
                self.hydra_context, config_loader=_ComposedLoader(self.hydra_context.config_loader)
            )
        else:
            from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher

            launcher = JoblibLauncher(**self.joblib)
            context = self.hydra_context  # each worker composes its job (the builder stays here)
        launcher.setup(hydra_context=context, task_function=self.task_function, config=self.config)
        try:
            return launcher.launch(job_overrides, initial_job_idx)
        finally:
            _BASIC_LOG.removeFilter(_drop_job_lines)
