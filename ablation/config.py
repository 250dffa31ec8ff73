"""Typed configuration schema, registered in Hydra's ConfigStore.

Every factor of a study is one config group under ``conf/`` (``init``, ``reg``,
``data``, ``depth``, ``optim``); the dataclasses below are their schemas, so a
typo or a wrong type fails at composition time and a bad value fails in
``__post_init__`` when :func:`to_config` turns the composed config into objects,
before any job starts.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, flag_override

from ablation.nn import ACTIVATIONS, INITS, OPTIMIZERS

#: Training-set sizes of the built-in sources, for checks before any data is read.
SOURCE_SIZES = {"mnist": 60_000, "kaggle_csv": 42_000, "digits": 1_437}
DATA_SOURCES = ("mnist", "digits", "mnist_idx", "kaggle_csv")
REGULARISERS = ("none", "l2")
DTYPES = ("float32", "float64")

#: Keys left out of the config hash: where things are, not what is computed.
UNHASHED_KEYS = ("tracking", "experiment_name", "rerun", "data.path", "data.cache_dir")


class ConfigError(ValueError):
    """A config value is invalid; the message names the field and the fix."""


def _choose(field_name: str, value: str, choices) -> None:
    if value not in choices:
        raise ConfigError(
            f"{field_name}={value!r} is not a valid choice; choose one of: {', '.join(choices)}"
        )


def _positive(field_name: str, value: float | None, *, allow_zero: bool = False) -> None:
    if value is None:
        return
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ConfigError(f"{field_name}={value} is invalid; it must be {bound}")


@dataclass
class InitConfig:
    name: str = "kaiming"

    def __post_init__(self) -> None:
        _choose("init.name", self.name, tuple(INITS))


@dataclass
class RegConfig:
    name: str = "none"
    l2: float = 0.0

    def __post_init__(self) -> None:
        _choose("reg.name", self.name, REGULARISERS)
        _positive("reg.l2", self.l2, allow_zero=True)
        if self.name == "none" and self.l2 != 0:
            raise ConfigError(
                f"reg.l2={self.l2} but reg=none; use reg=l2 reg.l2={self.l2} to regularise"
            )


@dataclass
class DataConfig:
    name: str = "mnist"
    n_train: int | None = None
    n_val: int = 0
    path: str | None = None
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        _choose("data.name", self.name, DATA_SOURCES)
        _positive("data.n_val", self.n_val, allow_zero=True)
        if self.n_train is not None:
            if self.n_train < 100:
                raise ConfigError(
                    f"data.n_train={self.n_train} is too small; use at least 100 rows "
                    "(or null for the whole training set)"
                )
            available = SOURCE_SIZES.get(self.name)
            if available is not None and self.n_train > available:
                raise ConfigError(
                    f"data.n_train={self.n_train} is larger than the {self.name} training "
                    f"set ({available} rows); use data.n_train<={available}"
                )
        if self.name in ("mnist_idx", "kaggle_csv"):
            if not self.path:
                raise ConfigError(
                    f"data={self.name} needs data.path (the "
                    + (
                        "folder with the four IDX files"
                        if self.name == "mnist_idx"
                        else "train.csv"
                    )
                    + "); e.g. data.path=/abs/path"
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
        for width in self.hidden:
            _positive("model.hidden", width)
        for name in self.activations:
            _choose("model.activations", name, tuple(ACTIVATIONS))


@dataclass
class OptimConfig:
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
        _positive("optim.max_loss", self.max_loss)
        _positive("optim.lr", self.lr)
        _positive("optim.eval_every", self.eval_every)
        if self.name == "gd":
            if self.iterations is None:
                raise ConfigError("optim=gd needs optim.iterations (full-batch steps)")
            _positive("optim.iterations", self.iterations)
        else:
            if self.epochs is None or self.batch_size is None:
                raise ConfigError(
                    f"optim={self.name} needs optim.epochs and optim.batch_size "
                    "(minibatch training); use optim=gd for full-batch steps"
                )
            _positive("optim.epochs", self.epochs)
            _positive("optim.batch_size", self.batch_size)


@dataclass
class TrackingConfig:
    #: MLflow tracking URI; null = $MLFLOW_TRACKING_URI or sqlite:///<cwd>/mlruns/mlflow.db
    uri: str | None = None


@dataclass
class Config:
    init: InitConfig = field(default_factory=InitConfig)
    reg: RegConfig = field(default_factory=RegConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    depth: int = 2
    seed: int = 0
    dtype: str = "float32"
    experiment_name: str = "ablation"
    rerun: bool = False

    def __post_init__(self) -> None:
        _choose("dtype", self.dtype, DTYPES)
        if len(self.model.hidden) != self.depth:
            raise ConfigError(
                f"depth={self.depth} but model.hidden={list(self.model.hidden)} has "
                f"{len(self.model.hidden)} layers; set one or the other, not both"
            )
        if not self.experiment_name.strip():
            raise ConfigError("experiment_name is empty; give the study a name")
        if self.seed < 0:
            raise ConfigError(f"seed={self.seed} is invalid; use a non-negative integer")


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can fix (bad config, data, store) into one line and exit 2."""
    from ablation.data import DataError
    from ablation.tracking import TrackingError

    try:
        yield
    except (ConfigError, DataError, TrackingError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def path_safe(name: str) -> str:
    """``name`` as one folder name: only [A-Za-z0-9._-], no leading dot, so never ``..``."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", str(name)).lstrip(".")
    return cleaned[:120] or "unnamed"


def register_configs() -> None:
    """Register the schema (``base_config``) and the resolvers of config.yaml."""
    ConfigStore.instance().store(name="base_config", node=Config)
    # output folders are named after experiment_name: keep them inside outputs/ and multirun/
    OmegaConf.register_new_resolver("path_safe", path_safe, replace=True)
    OmegaConf.register_new_resolver(
        "depth_hidden", lambda depth: list(_depth_entry(int(depth))[0]), replace=True
    )
    OmegaConf.register_new_resolver(
        "depth_activations", lambda depth: list(_depth_entry(int(depth))[1]), replace=True
    )


def to_config(cfg: DictConfig) -> Config:
    """Validate a composed config (without its ``hydra`` node) and return it as objects."""
    try:
        return OmegaConf.to_object(task_config(cfg))
    except ConfigError:
        raise
    except Exception as err:  # OmegaConf wraps errors raised in __post_init__
        cause = err.__cause__ or err.__context__
        while cause is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause from None
        raise


def task_config(cfg: DictConfig) -> DictConfig:
    """The config without Hydra's own ``hydra`` node (a copy, if there was one)."""
    if "hydra" not in cfg:
        return cfg
    plain = copy.deepcopy(cfg)
    with flag_override(plain, ["struct", "readonly"], [False, False]):
        del plain["hydra"]
    return plain


def flatten(cfg: DictConfig | dict, prefix: str = "") -> dict[str, Any]:
    """``{"optim": {"lr": 0.1}}`` -> ``{"optim.lr": 0.1}`` (lists stay values)."""
    container = cfg if isinstance(cfg, dict) else OmegaConf.to_container(cfg, resolve=True)
    flat: dict[str, Any] = {}
    for key, value in container.items():
        if key == "hydra":
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def _digest(flat: dict[str, Any]) -> str:
    payload = json.dumps(flat, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def config_hash(cfg: DictConfig | dict) -> str:
    """Identity of a run: the resolved config minus paths and tracking settings."""
    flat = flatten(cfg)
    kept = {k: v for k, v in flat.items() if not any(_under(k, u) for u in UNHASHED_KEYS)}
    return _digest(kept)


def cell_hash(cfg: DictConfig | dict) -> str:
    """Identity of a grid cell across seeds: :func:`config_hash` without the seed."""
    flat = flatten(cfg)
    drop = (*UNHASHED_KEYS, "seed")
    return _digest({k: v for k, v in flat.items() if not any(_under(k, u) for u in drop)})


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")


def data_label(n_train: int | None, name: str) -> str:
    """The paper's names for data sizes: 42000 -> '42k'."""
    if n_train is None:
        return {"mnist": "60k", "kaggle_csv": "42k"}.get(name, name)
    if n_train % 1000 == 0:
        return f"{n_train // 1000}k"
    return str(n_train)


def cell_label(cfg: Config) -> str:
    """A short human name for a cell: ``init=kaiming reg=l2 data=60k depth=2 optim=gd``."""
    data = data_label(cfg.data.n_train, cfg.data.name)
    if cfg.data.name not in ("mnist", data):
        data = f"{cfg.data.name}:{data}"
    reg = cfg.reg.name if cfg.reg.name == "none" else f"l2({cfg.reg.l2:g})"
    return f"init={cfg.init.name} reg={reg} data={data} depth={cfg.depth} optim={cfg.optim.name}"


def package_dir(name: str) -> Path:
    """Find ``conf/`` or ``sweeps/``: beside the package in a checkout, inside it when installed."""
    env = os.environ.get(f"ABLATION_{name.upper()}_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / name, here / f"_{name}"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"cannot find the '{name}' folder next to {here}; reinstall the package "
        f"(pip install .) or set ABLATION_{name.upper()}_DIR"
    )
