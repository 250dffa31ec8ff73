"""From a composed config to validated objects: the plugins it names imported, Hydra's
``hydra`` node dropped, the optimiser's own options checked, the schema's dataclasses built.
"""

from __future__ import annotations

import copy
import importlib
from dataclasses import fields
from typing import Any

from omegaconf import DictConfig, OmegaConf, flag_override

from ablation.config import rules
from ablation.config.schema import Config, OptimConfig
from ablation.errors import ConfigError
from ablation.nn import OPTIMIZERS


def import_plugins(modules) -> None:
    """Import the modules named in ``plugins``: they register their components on import."""
    for name in modules or ():
        try:
            importlib.import_module(str(name))
        except ImportError as err:
            raise ConfigError(
                f"plugins: cannot import {name!r} ({err}); put its package on PYTHONPATH"
            ) from None


def optim_extra(cfg: DictConfig | dict) -> dict[str, Any]:
    """Keys of the composed ``optim`` node that are not ``OptimConfig`` fields, checked
    against the chosen optimiser's declared ``options``."""
    node = cfg["optim"]
    items = (node if isinstance(node, dict) else OmegaConf.to_container(node, resolve=True)).items()
    known = {f.name for f in fields(OptimConfig)}
    extra = {k: v for k, v in items if k not in known}
    for key, value in extra.items():
        rules.check(f"optim.{key}", value)  # NaN, inf, or out of its range
    cls = OPTIMIZERS.get(node["name"])
    if cls is not None:
        for key in extra:
            if key not in cls.options:
                valid = ", ".join(cls.options) or "none"
                raise ConfigError(
                    f"optim.{key} is not an option of optim={node['name']} "
                    f"(its options: {valid}); remove it or fix the name"
                )
    return extra


def to_config(cfg: DictConfig) -> Config:
    """Validate a composed config (without its ``hydra`` node) and return it as objects.

    The modules in ``plugins`` are imported first, so their components are valid choices.
    """
    import_plugins(cfg.get("plugins"))
    try:
        spec = OmegaConf.to_object(task_config(cfg))
        optim_extra(cfg)
        return spec
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
