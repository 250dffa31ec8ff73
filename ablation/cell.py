"""One grid cell as one immutable value, built once per job from the composed config.

The sweep callback, the launchers and the job pass a :class:`Cell`; nothing downstream
composes, copies, flattens or labels the config again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablation.config import (
    TASK_FRAMEWORK_KEYS,
    Config,
    ConfigError,
    flatten,
    hashes,
    is_full_batch,
    optim_extra,
    task_config,
    to_config,
)
from ablation.data import data_label
from ablation.identity import is_mlp_task, task_keys
from ablation.nn import OPTIMIZERS
from ablation.task import add_config_dirs, resolve, task_label, user_config

#: Where results go, or what to import: not a parameter of the computation.
NOT_PARAMS = ("tracking.", "plugins")


@dataclass(frozen=True)
class Cell:
    """A validated cell: typed config, identities, label and what to log and pass on."""

    config: Config
    config_hash: str  # identity of the run (resume)
    cell_hash: str  # identity of the cell across seeds
    label: str  # init=kaiming reg=none data=60k depth=2 optim=gd
    params: dict[str, Any]  # the flattened config, only what applies to this run
    optimizer_options: dict[str, Any]  # keyword arguments of the optimiser, by its options
    overrides: tuple[str, ...] = field(default=())
    #: what a user task is called with (its own ``task.*`` fields and ``seed``); {} for the MLP
    task_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: DictConfig, overrides: Sequence[str] = ()) -> Cell:
        """Validate ``cfg`` (a composed config, with or without its ``hydra`` node)."""
        add_config_dirs(cfg)  # a user task may live next to the sweep config
        plain = task_config(cfg)
        config = to_config(plain)
        flat = flatten(plain)
        config_key, cell_key = hashes(flat)
        chosen = OPTIMIZERS[config.optim.name]
        options = {k: flat[f"optim.{k}"] for k in chosen.options if f"optim.{k}" in flat}
        options.update(optim_extra(plain))
        if is_mlp_task(flat):
            stray = [k for k in flat if k.startswith("task.") and k[5:] not in TASK_FRAMEWORK_KEYS]
            if stray:
                raise ConfigError(
                    f"{stray[0]} is not a setting of task=mlp (the built-in network); set "
                    "task._target_ to your function to give it fields of its own"
                )
            label, own = cell_label(config), {}
        else:
            resolve(config.task._target_)  # fails here, before any job, if not importable
            node = plain["task"]
            container = node if isinstance(node, dict) else OmegaConf.to_container(node)
            own = user_config(container, config.seed)
            label = task_label(config.task._target_, {k: v for k, v in own.items() if k != "seed"})
        return cls(
            config=config,
            config_hash=config_key,
            cell_hash=cell_key,
            label=label,
            params=_applicable(task_keys(flat), chosen.options),
            optimizer_options=options,
            overrides=tuple(overrides),
            task_args=own,
        )

    @property
    def is_mlp(self) -> bool:
        """Trained by the built-in network (``task=mlp``), not by a user's ``_target_``."""
        return is_mlp_task({"task._target_": self.config.task._target_})

    @property
    def full_batch(self) -> bool:
        """Full-batch gradient steps (``optim.iterations``) rather than minibatch epochs."""
        return is_full_batch(self.config.optim.name)

    @property
    def run_name(self) -> str:
        data_seed = self.config.data_seed
        subset = "" if data_seed is None else f" data_seed={data_seed}"
        return f"{self.label} seed={self.config.seed}{subset}"

    @property
    def shown(self) -> str:
        """What the user typed names the cell best (minus where results go)."""
        typed = [o for o in self.overrides if not o.startswith(("tracking.", "experiment_name="))]
        return " ".join(typed) if typed else self.run_name


def _applicable(flat: dict[str, Any], options: Sequence[str]) -> dict[str, Any]:
    """The params of a run: no other optimiser's options, no unset paths, no tracking."""
    others = {o for c in OPTIMIZERS.values() for o in c.options} - set(options)
    return {
        key: value
        for key, value in flat.items()
        if not key.startswith(NOT_PARAMS)
        and not (key.startswith("optim.") and key[len("optim.") :] in others)
        and not (key in ("data.path", "data.cache_dir", "data_seed") and value is None)
    }


def cell_label(cfg: Config) -> str:
    """A short human name for a cell: ``init=kaiming reg=l2(0.001) data=60k depth=2 optim=gd``."""
    data = data_label(cfg.data.name, cfg.data.n_train)
    reg = cfg.reg.name if cfg.reg.name == "none" else f"l2({cfg.reg.l2:g})"
    return f"init={cfg.init.name} reg={reg} data={data} depth={cfg.depth} optim={cfg.optim.name}"
