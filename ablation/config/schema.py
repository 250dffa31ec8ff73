"""Typed configuration schema, registered in Hydra's ConfigStore.

Every factor of a study is one config group under ``conf/`` (``init``, ``reg``,
``data``, ``depth``, ``optim``); the dataclasses below are their schemas, so a
typo or a wrong type fails at composition time and a bad value fails in
``__post_init__`` when :func:`to_config` turns the composed config into objects,
before any job starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from ablation.config import contrasts, rules
from ablation.config.identity import (
    MLP_TASK,
    MLP_TASKS,
    TASK_FRAMEWORK_KEYS,
    cell_hash,
    config_hash,
    flatten,
    hashes,
)
from ablation.config.keys import PROTOCOL_PARAMS
from ablation.data import DATASETS
from ablation.errors import ConfigError
from ablation.naming import safe_name as path_safe
from ablation.nn import ACTIVATIONS, DTYPES, INITS, OPTIMIZERS
from ablation.nn.rules import decay_is_valid

# re-exported: their homes are lower down (ablation.config.compose turns a composed config
# into these objects; keys and identity say what each key means and how it is hashed)
__all__ = [
    "MLP_TASK",
    "MLP_TASKS",
    "PROTOCOL_PARAMS",
    "TASK_FRAMEWORK_KEYS",
    "ConfigError",
    "cell_hash",
    "config_hash",
    "flatten",
    "hashes",
    "path_safe",
]

#: none; l2: a penalty l2/2 * sum ||W||^2 added to the loss of every batch (the paper's);
#: wd: decoupled weight decay, W *= 1 - lr * wd before every update (AdamW's form).
REGULARISERS = ("none", "l2", "wd")
#: task.goal: higher is better (max) or lower is better (min)
GOALS = ("max", "min")


def is_full_batch(optim_name: str) -> bool:
    """The optimiser takes ``optim.iterations`` full-batch steps (its registry entry says
    so: ``Optimizer.full_batch``); every other one ``optim.epochs`` of minibatches."""
    chosen = OPTIMIZERS.get(optim_name)
    return bool(chosen is not None and chosen.full_batch)


def _choose(field_name: str, value: str, choices) -> None:
    if value not in choices:
        raise ConfigError(
            f"{field_name}={value!r} is not a valid choice; choose one of: {', '.join(choices)}"
        )


@dataclass
class InitConfig:
    name: str = "kaiming"

    def __post_init__(self) -> None:
        _choose("init.name", self.name, tuple(INITS))


@dataclass
class RegConfig:
    name: str = "none"
    l2: float = 0.0
    wd: float = 0.0

    def __post_init__(self) -> None:
        _choose("reg.name", self.name, REGULARISERS)
        rules.check_fields(self, "reg.")
        for key in ("l2", "wd"):
            value = getattr(self, key)
            if value != 0 and self.name != key:
                raise ConfigError(
                    f"reg.{key}={value} but reg={self.name}; use reg={key} reg.{key}={value} "
                    f"for {'an L2 penalty' if key == 'l2' else 'decoupled weight decay'}"
                )


@dataclass
class DataConfig:
    name: str = "mnist"
    n_train: int | None = None
    n_val: int = 0
    path: str | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        _choose("data.name", self.name, tuple(DATASETS))
        spec = DATASETS[self.name]
        if self.n_train is not None and self.n_train < rules.MIN_TRAIN_ROWS:
            raise ConfigError(
                f"data.n_train={self.n_train} is too small; use at least "
                f"{rules.MIN_TRAIN_ROWS} rows (or null for the whole training set)"
            )
        rules.check_fields(self, "data.")
        if self.n_train is not None:
            available = spec.train_size
            if available is not None and self.n_train > available:
                raise ConfigError(
                    f"data.n_train={self.n_train} is larger than the {self.name} training "
                    f"set ({available} rows); use data.n_train<={available}"
                )
        if spec.needs_path:
            if not self.path:
                raise ConfigError(
                    f"data={self.name} needs data.path ({spec.path_hint or 'see its yaml'}); "
                    "e.g. data.path=/abs/path"
                )
            if not Path(self.path).exists():
                raise ConfigError(f"data.path={self.path!r} does not exist; give an absolute path")


#: ``depth`` = number of hidden layers -> (widths, activations). 2 is the paper's network;
#: 1 is its Figure 4 (one hidden layer of 200); 3 adds a LeakyReLU layer of 100.
DEPTHS: dict[int, tuple[list[int], list[str]]] = {
    1: ([200], ["leaky_relu"]),
    2: ([200, 20], ["leaky_relu", "tanh"]),
    3: ([200, 100, 20], ["leaky_relu", "leaky_relu", "tanh"]),
}


def _depth_entry(depth: int) -> tuple[list[int], list[str]]:
    if depth not in DEPTHS:
        raise ConfigError(
            f"depth={depth} is not a valid choice; choose one of: {', '.join(map(str, DEPTHS))} "
            "(or set model.hidden and model.activations yourself)"
        )
    return DEPTHS[depth]


@dataclass
class ModelConfig:
    #: hidden-layer widths; by default taken from ``depth`` (see DEPTHS)
    hidden: list[int] = field(default_factory=lambda: [200, 20])
    activations: list[str] = field(default_factory=lambda: ["leaky_relu", "tanh"])

    def __post_init__(self) -> None:
        if len(self.hidden) != len(self.activations):
            raise ConfigError(
                f"model.hidden has {len(self.hidden)} layers but model.activations has "
                f"{len(self.activations)}; give one activation per hidden layer"
            )
        rules.check_fields(self, "model.")
        for name in self.activations:
            _choose("model.activations", name, tuple(ACTIVATIONS))


@dataclass
class OptimConfig:
    """The optimiser and its budget. The node is open: an optimiser's own options (its
    class's ``options``, e.g. ``momentum``) may be added in its ``conf/optim/NAME.yaml``;
    :func:`to_config` checks them against the optimiser and keeps them in ``extra``."""

    name: str = "gd"
    lr: float = 0.1
    iterations: int | None = 300
    epochs: int | None = None
    batch_size: int | None = None
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eval_every: int = 10
    #: stop as diverged once the loss exceeds this (a tanh layer keeps it finite)
    max_loss: float | None = 1000.0

    def __post_init__(self) -> None:
        _choose("optim.name", self.name, tuple(OPTIMIZERS))
        rules.check_fields(self, "optim.")  # optim.lr first
        if is_full_batch(self.name):
            if self.iterations is None:
                raise ConfigError(f"optim={self.name} needs optim.iterations (full-batch steps)")
        else:
            if self.epochs is None or self.batch_size is None:
                raise ConfigError(
                    f"optim={self.name} needs optim.epochs and optim.batch_size "
                    "(minibatch training); use optim=gd for full-batch steps"
                )


@dataclass
class TrackingConfig:
    #: MLflow tracking URI; null = $MLFLOW_TRACKING_URI or sqlite:///<cwd>/mlruns/mlflow.db
    uri: str | None = None
    #: how long a cell's store calls wait for an MLflow server that stopped answering
    #: (seconds; 0: fail at once). Not part of a run's identity (tracking.* never is)
    outage_wait_s: float = 120.0

    def __post_init__(self) -> None:
        rules.check_fields(self, "tracking.")


@dataclass
class TaskConfig:
    """What trains a cell: ``_target_`` names a callable (``pkg.module.function``).

    The node is open: a user task's own fields (``task.alpha``, ...) sit beside these two,
    are free-form, and reach the callable (see ablation/task.py, docs/extending.md)."""

    _target_: str = MLP_TASK
    #: the metric the task's results are judged by (the report's response)
    metric: str = "test/acc"
    #: which way is better for ``metric``: max (accuracy, F1) or min (error, loss, time)
    goal: str = "max"

    def __post_init__(self) -> None:
        target = self._target_.strip()
        if not target or "." not in target or any(c.isspace() for c in target):
            raise ConfigError(
                f"task._target_={self._target_!r} is not a dotted name; give the module and "
                "function, e.g. task._target_=my_pkg.train (task=mlp for the built-in network)"
            )
        if not self.metric.strip():
            raise ConfigError("task.metric is empty; name the metric to judge by, e.g. test/acc")
        if self.goal not in GOALS:
            raise ConfigError(
                f"task.goal={self.goal!r} is not a valid choice; choose max (higher "
                f"{self.metric} is better) or min (lower is better)"
            )


@dataclass
class Config:
    init: InitConfig = field(default_factory=InitConfig)
    reg: RegConfig = field(default_factory=RegConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    depth: int = 2
    seed: int = 0
    #: the training subset (and validation split); null: follows ``seed``. ``seed`` still
    #: sets the weight init and the minibatch order
    data_seed: int | None = None
    dtype: str = "float32"
    experiment_name: str = "ablation"
    rerun: bool = False
    #: a sweep logs its report (report.html, ...) to its parent run at the end
    report: bool = True
    #: the study's confirmatory contrasts, declared before it runs ("reg: l2 vs none within
    #: init=random"); the report Holm-corrects them as their own family
    contrasts: list[str] = field(default_factory=list)
    #: modules imported before the config is validated: they register components
    #: (optimisers, data sources, ...); see docs/extending.md
    plugins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _choose("dtype", self.dtype, DTYPES)
        if len(self.model.hidden) != self.depth:
            raise ConfigError(
                f"depth={self.depth} but model.hidden={list(self.model.hidden)} has "
                f"{len(self.model.hidden)} layers; set one or the other, not both"
            )
        if not self.experiment_name.strip():
            raise ConfigError("experiment_name is empty; give the study a name")
        rules.check_fields(self)  # seed and data_seed (null: follows seed) among them
        for text in self.contrasts:
            try:
                contrasts.parse(text)
            except ValueError as exc:
                raise ConfigError(f"contrasts: {exc}") from None
        self._check_training_rows()
        if not decay_is_valid(self.optim.lr, self.reg.wd):  # each update: W *= 1 - lr * wd
            raise ConfigError(
                f"reg.wd={self.reg.wd} with optim.lr={self.optim.lr} would flip or zero the "
                f"weights at every update (1 - lr * wd <= 0); use reg.wd<{1 / self.optim.lr:g}"
            )

    def _check_training_rows(self) -> None:
        """Validation rows come out of the training rows: enough must be left to train on."""
        data = self.data
        rows = data.n_train if data.n_train is not None else DATASETS[data.name].train_size
        if rows is not None and rows - data.n_val < rules.MIN_TRAIN_ROWS:
            raise ConfigError(
                f"data.n_val={data.n_val} leaves {rows - data.n_val} of {rows} training rows; "
                f"keep at least {rules.MIN_TRAIN_ROWS} (data.n_val<={rows - rules.MIN_TRAIN_ROWS})"
            )

    @property
    def subset_seed(self) -> int:
        """The seed of the training subset: ``data_seed``, else ``seed``."""
        return self.seed if self.data_seed is None else self.data_seed


def register_configs() -> None:
    """Register the schema (``base_config``) and the resolvers of config.yaml."""
    schema = OmegaConf.structured(Config)
    OmegaConf.set_struct(schema.optim, False)  # open for optimiser options (OptimConfig)
    OmegaConf.set_struct(schema.task, False)  # open for a user task's own fields
    ConfigStore.instance().store(name="base_config", node=schema)
    # output folders are named after experiment_name: keep them inside outputs/ and multirun/
    OmegaConf.register_new_resolver("path_safe", path_safe, replace=True)
    OmegaConf.register_new_resolver(
        "depth_hidden", lambda depth: list(_depth_entry(int(depth))[0]), replace=True
    )
    OmegaConf.register_new_resolver(
        "depth_activations", lambda depth: list(_depth_entry(int(depth))[1]), replace=True
    )


def package_dir(name: str) -> Path:
    """Find ``conf/`` or ``sweeps/``: beside the package in a checkout, inside it when installed."""
    env = os.environ.get(f"ABLATION_{name.upper()}_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[1]  # the ablation package
    for candidate in (here.parent / name, here / f"_{name}"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"cannot find the '{name}' folder next to {here}; reinstall the package "
        f"(pip install .) or set ABLATION_{name.upper()}_DIR"
    )
