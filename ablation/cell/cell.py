"""One grid cell as one immutable value, built once per job from the composed config.

The sweep callback, the launchers and the job pass a :class:`Cell`; nothing downstream
composes, copies, flattens or labels the config again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig

from ablation.cell.task import add_config_dirs, resolve, task_label, user_config
from ablation.config.compose import task_config, to_config
from ablation.config.identity import flatten, hashes, is_mlp_task
from ablation.config.keys import (
    FACTORS,
    GROUP_FACTORS,
    TASK_FRAMEWORK_KEYS,
    factor_of,
    meaning,
    param_applies,
)
from ablation.config.schema import Config, ConfigError, is_full_batch
from ablation.data import data_label
from ablation.nn import OPTIMIZERS


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
        return cls.build(to_config(plain), flatten(plain), overrides)

    @classmethod
    def build(cls, config: Config, flat: dict[str, Any], overrides: Sequence[str] = ()) -> Cell:
        """The one constructor: the cell of a validated ``config`` and its flattened,
        resolved form ``flat`` (what is hashed and logged). The Hydra path
        (:meth:`from_config`), the grid's fast path and ``seeds=auto`` all end here."""
        mlp = is_mlp_task(flat)
        if mlp:
            stray = [k for k in flat if k.startswith("task.") and k[5:] not in TASK_FRAMEWORK_KEYS]
            if stray:
                raise ConfigError(
                    f"{stray[0]} is not a setting of task=mlp (the built-in network); set "
                    "task._target_ to your function to give it fields of its own"
                )
            label, own = cell_label(config), {}
        else:
            resolve(config.task._target_)  # fails here, before any job, if not importable
            own = user_config(vars(config.task), config.seed)  # with its own fields
            label = task_label(config.task._target_, {k: v for k, v in own.items() if k != "seed"})
        config_key, cell_key = hashes(flat)
        declared = OPTIMIZERS[config.optim.name].options
        return cls(
            config=config,
            config_hash=config_key,
            cell_hash=cell_key,
            label=label,
            params=_applicable(flat, declared, mlp),
            # the optimiser's declared options, from its yaml or typed (checked by to_config)
            optimizer_options={k: flat[f"optim.{k}"] for k in declared if f"optim.{k}" in flat},
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

    def levels(self) -> dict[str, Any]:
        """What the cell is, by factor (``init``, ``reg``, ``data``, ``depth``, ``optim``),
        then every other param by its key, then ``seed``: the words a run name is made of."""
        cfg = self.config
        out: dict[str, Any] = {
            "init": cfg.init.name,
            "reg": cfg.reg.name,
            "data": data_label(cfg.data.name, cfg.data.n_train),
            "depth": cfg.depth,
            "optim": cfg.optim.name,
        }
        out.update({k: v for k, v in sorted(self.params.items()) if meaning(k).factor is None})
        out["seed"] = cfg.seed
        return out

    def short_name(self, varies: Sequence[str] | None = None) -> str:
        """The run name: the levels of what varies (``kaiming l2 60k s3``), then the seed.

        ``varies``: the keys of :meth:`levels` that vary in the sweep (``varying_keys``);
        None outside a sweep: what the typed overrides chose, or every factor if none.
        """
        levels = self.levels()
        keys = list(varies) if varies is not None else _typed_keys(self.overrides, levels)
        keys = [k for k in keys if k in levels and k != "seed"] or list(FACTORS)
        words = [_word(k, levels[k]) for k in keys]
        return " ".join([*words, f"s{self.config.seed}"])

    @property
    def shown(self) -> str:
        """What the user typed names the cell best (minus where results go)."""
        typed = [o for o in self.overrides if meaning(o.split("=", 1)[0].lstrip("+~")).shown]
        return " ".join(typed) if typed else self.run_name


def _applicable(flat: dict[str, Any], options: Sequence[str], mlp: bool) -> dict[str, Any]:
    """The params of a run: the keys whose meaning says they apply (not where results go,
    not unset, not another regulariser's), and no other optimiser's options."""
    others = {o for c in OPTIMIZERS.values() for o in c.options} - set(options)
    return {
        key: value
        for key, value in flat.items()
        if param_applies(key, value, flat, mlp)
        and not (key.startswith("optim.") and key[len("optim.") :] in others)
    }


def _word(key: str, value: Any) -> str:
    """How one level reads in a run name: factors bare (``kaiming``, ``d2`` for depth),
    other keys as ``lr=0.01`` (the last part of the key)."""
    if key == "depth":
        return f"d{value}"
    if key in FACTORS:
        return str(value)
    text = value if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else value
    return f"{key.rsplit('.', 1)[-1]}={text}".replace(" ", "")


def _typed_keys(overrides: Sequence[str], levels: dict[str, Any]) -> list[str]:
    """The keys of ``levels`` a single run's typed overrides chose, in ``levels`` order."""
    chosen: set[str] = set()
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if not meaning(key).named:
            continue
        chosen.update(GROUP_FACTORS.get(key, ()))
        chosen.add(factor_of(key))
    return [k for k in levels if k in chosen]


def varying_keys(cells: Sequence[Cell]) -> list[str]:
    """The keys of :meth:`Cell.levels` whose value differs between ``cells``, in levels
    order, without keys that the factors before them already determine (``reg.l2`` when
    ``reg`` varies with one l2 value, ``optim.epochs`` when ``optim`` varies)."""
    table = [c.levels() for c in cells]
    keys = list(dict.fromkeys(k for row in table for k in row))
    varying: list[str] = []
    for key in keys:
        values = {_hashable(row.get(key)) for row in table}
        if len(values) < 2:
            continue
        if key not in FACTORS and key != "seed" and varying:
            seen: dict[tuple, Any] = {}
            determined = True
            for row in table:
                before = tuple(_hashable(row.get(k)) for k in varying)
                value = _hashable(row.get(key))
                if seen.setdefault(before, value) != value:
                    determined = False
                    break
            if determined:
                continue
        varying.append(key)
    return varying


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def cell_label(cfg: Config) -> str:
    """A short human name for a cell: ``init=kaiming reg=l2(0.001) data=60k depth=2 optim=gd``."""
    data = data_label(cfg.data.name, cfg.data.n_train)
    reg = cfg.reg.name
    if reg != "none":
        reg = f"{reg}({getattr(cfg.reg, reg):g})"
    return f"init={cfg.init.name} reg={reg} data={data} depth={cfg.depth} optim={cfg.optim.name}"
