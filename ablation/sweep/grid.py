"""The cells of a multirun, composed and validated exactly as the launcher will run them,
fast enough for 10,000 cells.

Hydra composes a config in ~0.1 s, so composing every job takes minutes for a big grid.
Here Hydra composes once per distinct choice of config groups (``init=``, ``optim=``, ...);
the first cell of each set of plain value overrides (``seed=``, ``optim.lr=``) is then
built exactly as Hydra would (its override applied to the composed config, validated by the
schema), and the others with the same keys from it: the new values, coerced to the field's
type, replace the old ones in the validated dataclasses (whose ``__post_init__`` checks them
again) and in the flattened config (hashes, params). A key that an interpolation reads
(``depth``), that is not a plain leaf, or a value of another type than the field's takes
the exact way. ``tests/reliability/test_scale.py`` checks that both ways give equal cells.
The launcher, running the cells in turn, takes each job's whole config from the same
compositions (:meth:`CellBuilder.job_config`) instead of composing every job again.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import Any

from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from ablation.cell.cell import Cell
from ablation.cell.task import add_config_dirs
from ablation.config.compose import task_config
from ablation.config.identity import flatten
from ablation.errors import ConfigError
from ablation.sweep import adaptive

#: A progress line on stderr every this many cells (only for grids at least this big).
PROGRESS_EVERY = 1000


def expand_cells(
    master: DictConfig, *, fast: bool = True, progress: Callable[[int, int], None] | None = None
) -> list[Cell]:
    """Every job of the multirun as a validated :class:`Cell`, in the launcher's order."""
    return expand(master, fast=fast, progress=progress)[0]


def expand(
    master: DictConfig, *, fast: bool = True, progress: Callable[[int, int], None] | None = None
) -> tuple[list[Cell], CellBuilder]:
    """:func:`expand_cells`, and the builder that made the cells (its ``job_config`` gives
    each job's whole config to the launcher)."""
    # Hydra's public API has no "list the jobs of this sweep": BasicSweeper.split_arguments
    # is the basic sweeper's own expansion, so the cells here are the jobs it launches
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    params = master.hydra.sweeper.get("params") or {}
    arguments = [f"{k}={v}" for k, v in params.items()]
    arguments += list(master.hydra.overrides.task)
    if adaptive.is_auto(master.hydra.sweeper):  # seeds=auto: its first round
        settings = adaptive.settings_of(master.hydra.sweeper)  # ConfigError before any run
        arguments = adaptive.first_round_arguments(arguments, settings.min_seeds)
    builder = CellBuilder(master, GlobalHydra.instance().config_loader(), fast=fast)
    (jobs,) = BasicSweeper.split_arguments(builder.learn(arguments), None)
    if not jobs:
        raise ConfigError("the sweep is empty: a sweep list has no values (e.g. 'init=')")
    progress = progress or (_print_progress if len(jobs) >= PROGRESS_EVERY else None)
    cells = []
    for i, overrides in enumerate(jobs):
        cells.append(builder.cell(list(overrides)))
        if progress and (i + 1) % PROGRESS_EVERY == 0:
            progress(i + 1, len(jobs))
    names = {c.config.experiment_name for c in cells}
    if len(names) > 1:
        raise ConfigError(
            f"one sweep must write to one experiment, got experiment_name in {sorted(names)}; "
            "run one sweep per experiment"
        )
    return cells, builder


class CellBuilder:
    """The cells of one multirun's jobs, each composed and validated exactly as the launcher
    will run it; Hydra composes once per distinct choice of config groups (see the module
    docstring). The sweep callback and the ``seeds=auto`` sweeper use one each."""

    def __init__(self, master: DictConfig, loader, *, fast: bool = True) -> None:
        add_config_dirs(master)  # a user task next to the sweep config (cells lose the node)
        self.master, self.loader, self.fast = master, loader, fast
        self.parser = OverridesParser.create(config_loader=loader)
        self.known: dict[str, _Override] = {}  # override text -> what it sets
        self.composed: dict[tuple[str, ...], DictConfig] = {}  # group choices -> config
        #: (Hydra's overrides, group choices) -> the config with Hydra's node (job_config)
        self.whole: dict[tuple[tuple[str, ...], tuple[str, ...]], DictConfig] = {}
        self.parsed: dict[str, Any] = {}  # override text -> Hydra's Override, parsed once
        self.templates: dict[tuple, _Template] = {}  # (group choices, value keys) -> cell

    def learn(self, arguments: list[str]) -> list:
        """Parse the sweep's arguments (once: Hydra's parser takes ~1 ms per override) and
        note every override text a job can hold; returns them parsed."""
        parsed = self.parser.parse_overrides(arguments)
        self.known.update(_job_overrides(parsed, self.loader))
        return parsed

    def job_config(self, master: DictConfig, overrides: Sequence[str]) -> DictConfig | None:
        """The job's whole config as Hydra's ``load_sweep_config`` makes it for the launcher:
        the job's value overrides applied to a copy of :meth:`_whole`, and the Hydra fields
        that name the overrides (``hydra.overrides.task``, ``hydra.job.override_dirname``)
        set as Hydra sets them.
        None for a job this builder did not make a cell of, or another master config: the
        caller composes it. ``tests/reliability/test_scale.py`` checks both ways are equal."""
        from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname

        overrides = list(overrides)
        split = self._split(overrides) if master is self.master else None
        if split is None:
            return None
        group, values = split
        config = copy.deepcopy(self._whole(master, group))
        ConfigLoaderImpl._apply_overrides_to_config([self._parsed(t) for t in values], config)
        parsed = [self._parsed(text) for text in overrides]
        parsed = [o for o in parsed if not o.is_hydra_override()]  # as Hydra's task overrides
        dirname = config.hydra.job.config.override_dirname
        config.hydra.overrides.task = [o.input_line for o in parsed]
        config.hydra.job.override_dirname = get_overrides_dirname(
            overrides=parsed,
            kv_sep=dirname.kv_sep,
            item_sep=dirname.item_sep,
            exclude_keys=dirname.exclude_keys,
        )
        OmegaConf.copy_cache(from_config=master, to_config=config)
        return config

    def _split(self, overrides: list[str]) -> tuple[list[str], list[str]] | None:
        """``(group overrides, value overrides)`` of a job, in order; None where the fast way
        does not apply (``fast=False``, or an override this builder did not learn)."""
        if not self.fast or any(text not in self.known for text in overrides):
            return None
        group, values = [], []
        for text in overrides:
            (values if self.known[text].is_value else group).append(text)
        return group, values

    def _whole(self, master: DictConfig, group: list[str]) -> DictConfig:
        """The config with Hydra's node for these group choices, composed once per choice
        and per set of Hydra's overrides (the sweep callback adds the jobs' environment to
        those after making the cells)."""
        key = (tuple(master.hydra.overrides.hydra), tuple(group))
        if key not in self.whole:
            self.whole[key] = self.loader.load_sweep_config(master, group)
        return self.whole[key]

    def _parsed(self, text: str):
        if text not in self.parsed:
            (self.parsed[text],) = self.parser.parse_overrides([text])
        return self.parsed[text]

    def cell(self, overrides: list[str]) -> Cell:
        """The cell of the job with these overrides; a ConfigError names the cell."""
        try:
            unknown = [text for text in overrides if text not in self.known]
            if unknown and self.fast:
                self.learn(unknown)  # e.g. seeds=auto's seed=7 of a later round
            return _cell(self, overrides)
        except ConfigError as err:
            raise ConfigError(f"{err}\n  in the cell: {' '.join(overrides)}") from None


def _print_progress(done: int, total: int) -> None:
    print(f"checked {done} of {total} cells", file=sys.stderr, flush=True)


@dataclasses.dataclass(frozen=True)
class _Template:
    cell: Cell
    flat: dict[str, Any]  # the flattened, resolved config (hashes and params come from it)


@dataclasses.dataclass(frozen=True)
class _Override:
    key: str  # the config path (optim.lr) or group (optim)
    value: Any  # parsed by Hydra's grammar
    is_value: bool  # a plain value override (not a group choice, +, ++, ~ or hydra.*)


def _job_overrides(parsed, loader) -> dict[str, _Override]:
    """Every override text a job of the sweep can hold -> what it sets. The texts are made
    as ``BasicSweeper.split_arguments`` makes them."""
    known: dict[str, _Override] = {}
    for item in parsed:
        key = item.get_key_element()
        is_value = not (
            item.is_add()
            or item.is_force_add()
            or item.is_delete()
            or item.is_hydra_override()
            or loader.repository.group_exists(item.key_or_group)
        )
        if item.is_sweep_override():
            if not item.is_discrete_sweep():
                continue  # split_arguments has refused it already
            pairs = zip(item.sweep_string_iterator(), item.sweep_iterator(), strict=True)
            for text, value in pairs:
                is_dict = isinstance(value, dict)  # Hydra merges a dict value, even on a group
                known[f"{key}={text}"] = _Override(item.key_or_group, value, is_value or is_dict)
        else:
            value = item.value()
            known[f"{key}={item.get_value_element_as_str()}"] = _Override(
                item.key_or_group, value, is_value or isinstance(value, dict)
            )
    return known


def _cell(builder: CellBuilder, overrides: list[str]) -> Cell:
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    known, master = builder.known, builder.master
    split = builder._split(overrides)
    if split is None:
        return Cell.from_config(builder.loader.load_sweep_config(master, overrides), overrides)
    group, values = split
    key = tuple(group)
    if key not in builder.composed:
        builder.composed[key] = task_config(builder._whole(master, group))
    base = builder.composed[key]
    value_keys = tuple(known[text].key for text in values)
    slot = (key, value_keys)
    template = builder.templates.get(slot)
    if template is not None and len(set(value_keys)) == len(value_keys):
        cell = _from_template(template, {known[text].key: known[text].value for text in values})
        if cell is not None:
            return dataclasses.replace(cell, overrides=tuple(overrides))
    # the exact way: Hydra's own override application on a copy of the composed config
    # (Hydra has no public name for it; it is what load_sweep_config does after composing)
    config = copy.deepcopy(base)
    OmegaConf.set_struct(config, True)
    ConfigLoaderImpl._apply_overrides_to_config([builder._parsed(t) for t in values], config)
    cell = Cell.from_config(config, overrides)
    if template is None and _fast_keys_ok(base, value_keys) and not _extras(cell.config):
        builder.templates[slot] = _Template(cell, flatten(config))
    return cell


def _extras(node: Any) -> bool:
    """Attributes OmegaConf set beyond the dataclass fields (an optimiser's own options)."""
    names = {f.name for f in dataclasses.fields(node)}
    if any(k not in names for k in vars(node)):
        return True
    return any(_extras(v) for v in vars(node).values() if dataclasses.is_dataclass(v))


def _fast_keys_ok(base: DictConfig, keys: Sequence[str]) -> bool:
    """Keys the fast way may change: leaves that no interpolation reads."""
    raw = OmegaConf.to_container(base, resolve=False)
    read = " ".join(_interpolations(raw))
    for key in keys:
        node: Any = raw
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        if isinstance(node, (dict, list)) or (isinstance(node, str) and "${" in node):
            return False
        if key.split(".")[-1] in read:
            return False
    return True


def _interpolations(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _interpolations(v)]
    if isinstance(node, list):
        return [s for v in node for s in _interpolations(v)]
    return [node] if isinstance(node, str) and "${" in node else []


def _from_template(template: _Template, changes: dict[str, Any]) -> Cell | None:
    """The template's cell with ``changes`` (dotted key -> parsed value); None when a value
    is not of its field's type (the exact way then gives OmegaConf's error or conversion)."""
    flat = dict(template.flat)
    config = template.cell.config
    for key, value in changes.items():
        value = _coerced(flat[key], value)
        if value is _MISMATCH:
            return None
        flat[key] = value
        try:
            config = _replaced(config, key.split("."), value)
        except _NotAField:
            return None
    return Cell.build(config, flat)


_MISMATCH = object()


def _coerced(old: Any, new: Any) -> Any:
    """``new`` as OmegaConf would store it in a field holding ``old``, or _MISMATCH."""
    if old is None or new is None or isinstance(new, bool) or isinstance(old, bool):
        return new if type(new) is type(old) else _MISMATCH
    if isinstance(old, float) and isinstance(new, int):
        return float(new)
    return new if type(new) is type(old) else _MISMATCH


def _replaced(node: Any, path: list[str], value: Any) -> Any:
    """``node`` with the field at ``path`` set to ``value``; __post_init__ checks it again."""
    head, *rest = path
    if not rest:
        if head not in {f.name for f in dataclasses.fields(node)}:
            raise _NotAField
        return dataclasses.replace(node, **{head: value})
    return dataclasses.replace(node, **{head: _replaced(getattr(node, head), rest, value)})


class _NotAField(Exception):
    pass
