"""A task of the user's own: a plain callable named by ``task._target_`` trains one cell.

The framework calls ``train(cfg, log)`` once per cell and owns everything around it
(grid, validation of its own fields, hashing, the store, resume, failures, progress,
launchers, the report)::

    def train(cfg: dict, log) -> dict[str, float]:
        # cfg: the task's own fields (task.* but _target_, metric, goal) plus "seed"
        for step in range(cfg["epochs"]):
            ...
            log.metrics({"train/loss": loss, "test/acc": acc}, step=step)
            log.progress(step + 1, cfg["epochs"])
        log.artifact("model.pkl")
        return {"test/acc": acc}

``log`` is a :class:`TaskLog`. An exception raised by the task makes the run FAILED with
its traceback (``error.txt``) and a one-line reason; the other cells go on.
The callable is imported by its dotted name: from the user's package on ``PYTHONPATH``,
or from a ``.py`` file in the folder of the sweep config (``-cd FOLDER``; the folders of
Hydra's config search path are appended to ``sys.path``). See docs/extending.md.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from omegaconf import DictConfig, OmegaConf

from ablation.config.identity import TASK_FRAMEWORK_KEYS
from ablation.errors import ConfigError

log = logging.getLogger("ablation")

#: In a sweep (no progress bar), at most one progress line per cell this often.
PROGRESS_EVERY_S = 15.0


class TaskResultError(ValueError):
    """The task returned something other than final metrics, or not its ``task.metric``."""


def config_dirs(cfg: DictConfig | None = None) -> list[Path]:
    """The user's config folders (``-cd``, ``hydra.searchpath``) of a composed config (with
    its ``hydra`` node), or of the running Hydra job; not this package's own ``conf/``."""
    sources = None
    if cfg is not None and "hydra" in cfg:
        sources = OmegaConf.select(cfg, "hydra.runtime.config_sources")
    if sources is None:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return []
        sources = HydraConfig.get().runtime.config_sources
    from ablation.config.schema import package_dir

    own = package_dir("conf").resolve()
    dirs = []
    for source in sources or ():
        if source.schema != "file" or source.provider in ("hydra", "schema"):
            continue
        path = Path(unquote(urlparse(f"file://{source.path}").path)).resolve()
        if path != own and path.is_dir():
            dirs.append(path)
    return dirs


def add_config_dirs(cfg: DictConfig | None = None) -> None:
    """Make modules next to the user's sweep config importable (appended: never shadows)."""
    for path in config_dirs(cfg):
        if str(path) not in sys.path:
            sys.path.append(str(path))


def _get_object(target: str) -> Any:
    """Hydra's own lookup (``hydra.utils.get_object``: the longest importable module, then
    attributes), without the error line it logs: :func:`resolve` says it in one line."""
    from hydra.utils import get_object

    hydra_log = logging.getLogger("hydra.utils")
    before, hydra_log.disabled = hydra_log.disabled, True
    try:
        return get_object(target)
    finally:
        hydra_log.disabled = before


def resolve(target: str) -> Callable:
    """The callable named ``pkg.module.function``; ``ConfigError`` (one line) otherwise."""
    try:
        function = _get_object(target)
    except Exception as found:  # not found, or an error while importing the user's module
        err = found.__cause__ or found  # Hydra's ImportError wraps what went wrong
        text = str(err).splitlines()[0] if str(err) else ""
        missing = getattr(err, "name", None)
        ours = missing and (target + ".").startswith(missing + ".")
        if isinstance(err, ModuleNotFoundError) and missing and not ours:
            fix = f"its module needs {missing!r}: install it where the cells run"
        else:
            fix = "put its package on PYTHONPATH or its .py file next to the sweep config (-cd)"
        raise ConfigError(
            f"task._target_={target!r} cannot be imported ({type(err).__name__}: {text}); {fix}"
        ) from None
    if not callable(function):
        raise ConfigError(f"task._target_={target!r} is not a function; name a callable")
    return function


def user_config(task_node: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """What the task is called with: its own fields (a plain dict) and the cell's seed."""
    own = {k: v for k, v in task_node.items() if k not in TASK_FRAMEWORK_KEYS}
    return {**own, "seed": seed}


def task_label(target: str, own: Mapping[str, Any]) -> str:
    """``alpha=0.0001 loss=hinge``: the task's scalar fields (the function's name when it
    has none). A sweep shows only the fields that vary (the run names, the best cell)."""
    parts = []
    for key, value in own.items():
        if isinstance(value, bool | int | float | str) or value is None:
            shown = f"{value:g}" if isinstance(value, float) else value
            parts.append(f"{key}={shown}")
    return " ".join(parts) or target.rsplit(".", 1)[-1]


class TaskLog:
    """What a task may record in its run: metrics at steps, files, and progress."""

    def __init__(self, client, run_id: str, name: str, *, progress_bar: bool = False) -> None:
        from ablation import tracking

        self._client, self.run_id, self._name = client, run_id, name
        self._buffer = tracking.MetricBuffer(client, run_id)
        self._bar_wanted, self._bar = progress_bar, None
        self._t0 = time.perf_counter()
        self._last_line = self._t0
        #: the last step a metric was logged at (final metrics are logged there too)
        self.step = 0
        #: the last value logged per key
        self.last: dict[str, float] = {}

    def metric(self, key: str, value: float, step: int | None = None) -> None:
        """One value of ``key`` (``split/name``, e.g. ``test/acc``) at ``step`` (int >= 0;
        default: the last step used). Buffered; the store gets it in batches."""
        self.metrics({key: value}, step)

    def metrics(self, values: Mapping[str, float], step: int | None = None) -> None:
        """Several metrics at one ``step`` (default: the last step used)."""
        if step is not None:
            if int(step) != step or step < 0:
                raise ValueError(f"log.metrics: step={step!r}; use an integer >= 0")
            self.step = int(step)
        checked = {str(k): float(v) for k, v in values.items()}
        self._buffer.add(self.step, checked)
        self.last.update(checked)

    def artifact(self, path: str | Path, folder: str | None = None) -> None:
        """Copy a file (or a folder's files) into the run's artifacts, under ``folder``."""
        from ablation import tracking

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"log.artifact: no file or folder at {path}")
        log_it = self._client.log_artifacts if path.is_dir() else self._client.log_artifact
        tracking.retry(log_it, self.run_id, str(path), folder)

    def progress(self, done: int, total: int) -> None:
        """How far the task is (e.g. epochs): a bar for one cell, a line now and then in a
        sweep, with the time left at the rate so far."""
        if self._bar_wanted:
            if self._bar is None:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=total, desc=self._name, leave=True, dynamic_ncols=True)
            self._bar.total = total
            self._bar.update(done - self._bar.n)
            return
        now = time.perf_counter()
        if now - self._last_line < PROGRESS_EVERY_S or not total:
            return
        from ablation.naming import format_duration

        self._last_line = now
        left = (now - self._t0) / max(done, 1) * max(total - done, 0)
        share = f"{done}/{total} ({done / total:.0%})"
        log.info(f"  {self._name}: {share}, ~{format_duration(left)} left")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._buffer.flush()


def _final_metrics(result: Any, logged: dict[str, float]) -> dict[str, float]:
    """The task's return value as ``{key: float}``; ``None`` means the last logged values."""
    if result is None:
        return dict(logged)
    if not isinstance(result, Mapping):
        raise TaskResultError(
            f"the task returned a {type(result).__name__}; return a dict of final metrics, "
            "e.g. {'test/acc': 0.93}"
        )
    final = {}
    for key, value in result.items():
        try:
            final[str(key)] = float(value)
        except (TypeError, ValueError):
            raise TaskResultError(
                f"the task returned {key!r}: {value!r}; every final metric must be a number"
            ) from None
    return final


def run_task(
    cell, client, run_id: str, *, progress: bool, name: str | None = None
) -> dict[str, float]:
    """Call the cell's task in its claimed run; log its final metrics; return them (with
    ``_step``, the step they are logged at). The run's status is the caller's business.
    ``name``: how progress lines name the run (default: the cell's label)."""
    from ablation import tracking

    spec = cell.config.task
    function = resolve(spec._target_)
    own = {k: v for k, v in cell.task_args.items() if k != "seed"}
    framework = {"_target_": spec._target_, "metric": spec.metric, "goal": spec.goal}
    settings = {"task": {**framework, **own}}
    settings["seed"] = cell.config.seed
    tracking.retry(client.log_text, run_id, OmegaConf.to_yaml(settings), "config.yaml")
    task_log = TaskLog(client, run_id, name or cell.label, progress_bar=progress)
    tic = time.perf_counter()
    try:
        result = function(dict(cell.task_args), task_log)
    finally:
        task_log.close()
    final = _final_metrics(result, task_log.last)
    if spec.metric not in final and spec.metric not in task_log.last:
        raise TaskResultError(
            f"the task neither returned nor logged {spec.metric!r} (task.metric); return it, "
            f"or set task.metric to one of: {', '.join(sorted({*final, *task_log.last}))}"
        )
    final[tracking.schema.METRIC_FIT_S] = time.perf_counter() - tic
    buffer = tracking.MetricBuffer(client, run_id)
    buffer.add(task_log.step, final)
    buffer.flush()
    response = final.get(spec.metric, task_log.last.get(spec.metric))
    if not math.isfinite(response):
        raise TaskResultError(f"the task's {spec.metric} is {response} (not finite)")
    return {**task_log.last, **final, "_step": task_log.step}
