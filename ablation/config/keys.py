"""What each config key means, in one table (:data:`KEYS`).

For a flattened key (``optim.lr``) or a prefix of keys (``tracking``), its entry says:

- ``hashed``: part of the config hash (resume) and the cell hash, or only where things are;
- ``param``: logged as a run param always, never, or only when set (not None);
- ``only_with``: it applies (is logged) only when another key has a value (``reg.wd``: with
  ``reg.name=wd``);
- ``named``: a typed override of it may name a run (``seed`` is added on its own);
- ``shown``: a typed override of it shows in the cell's description (not where results go);
- ``factor``: the factor a run name shows it as (``init``, ..., ``seed``), not as ``key=value``;
- ``own_factor``: may become a factor of the report under its own key (not when the
  report's ``init``/``reg``/``data`` factor or the seed stands for it);
- ``cost``: sets what a cell costs to train (cells alike in these take about as long);
- ``seed``: picks a seed, not the cell (left out of the cell hash);
- ``later``: added after stores existed, with this hash-neutral default: left out of both
  hashes at that value, so older configs keep their hashes;
- ``tasks``: whose key it is: the built-in MLP's (``mlp``), a user task's (``user``),
  both's, or neither's (``task.metric``: what the report reads, not what is computed).

A key in no entry means the defaults (a setting of the built-in MLP, hashed, logged, named).
Everything else that reads key meanings (:mod:`~ablation.config.identity`,
:mod:`~ablation.cell.cell`, the report's factors) reads them here; a test fails if a list
of config keys appears in another module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: ``Meaning.param`` values
ALWAYS, WHEN_SET, NEVER = "always", "when set", "never"
#: ``Meaning.tasks`` values
MLP, USER, BOTH, NEITHER = "mlp", "user", "both", "neither"
_NOT_LATER = object()


@dataclass(frozen=True)
class Meaning:
    hashed: bool = True
    param: str = ALWAYS
    only_with: tuple[str, Any] | None = None
    named: bool = True
    shown: bool = True
    factor: str | None = None
    own_factor: bool = True
    cost: bool = False
    seed: bool = False
    later: Any = _NOT_LATER
    tasks: str = MLP

    @property
    def is_later(self) -> bool:
        return self.later is not _NOT_LATER


#: Key or prefix -> what it means.
KEYS: dict[str, Meaning] = {
    "init.name": Meaning(factor="init", own_factor=False),
    "reg.name": Meaning(factor="reg", own_factor=False),
    "reg.wd": Meaning(only_with=("reg.name", "wd"), later=0.0),
    "optim.name": Meaning(factor="optim", cost=True),
    "data.name": Meaning(factor="data", own_factor=False, cost=True),
    "data.n_train": Meaning(factor="data", own_factor=False, cost=True),
    "depth": Meaning(factor="depth", cost=True),
    "optim.iterations": Meaning(param=WHEN_SET, cost=True),
    "optim.epochs": Meaning(param=WHEN_SET, cost=True),
    # an unset budget (gd: no epochs, no batch_size) does not apply
    "optim": Meaning(param=WHEN_SET),
    "seed": Meaning(factor="seed", named=False, own_factor=False, seed=True, tasks=BOTH),
    # null: follows seed
    "data_seed": Meaning(param=WHEN_SET, own_factor=False, seed=True, later=None),
    "data.path": Meaning(hashed=False, param=WHEN_SET, tasks=BOTH),
    "data.cache_dir": Meaning(hashed=False, param=WHEN_SET, tasks=BOTH),
    "tracking": Meaning(hashed=False, param=NEVER, named=False, shown=False, tasks=BOTH),
    "experiment_name": Meaning(hashed=False, named=False, shown=False, tasks=BOTH),
    "rerun": Meaning(hashed=False, named=False, tasks=BOTH),
    "report": Meaning(hashed=False, param=NEVER, named=False, shown=False, tasks=BOTH),
    "plugins": Meaning(hashed=False, param=NEVER, named=False, tasks=BOTH),
    # which contrasts the study declared confirmatory: how results are read, not computed
    "contrasts": Meaning(hashed=False, param=NEVER, named=False, shown=False, tasks=BOTH),
    # the task node: a user task's own fields; for the MLP not hashed (its name may change)
    "task": Meaning(tasks=USER),
    "task._target_": Meaning(tasks=USER),
    # how results are judged (compared by which metric, higher or lower better), not what
    # is computed: neither hashed nor a param (the runs carry them as tags)
    "task.metric": Meaning(tasks=NEITHER),
    "task.goal": Meaning(tasks=NEITHER),
    # not config keys, but typed overrides: the seeds=auto group and Hydra's own node
    "seeds": Meaning(hashed=False, param=NEVER, named=False, shown=False, tasks=NEITHER),
    "hydra": Meaning(hashed=False, param=NEVER, named=False, tasks=NEITHER),
}

#: Config groups that set several factors at once (one of the paper's Table 3 rows).
GROUP_FACTORS: dict[str, tuple[str, ...]] = {"table3": ("init", "reg", "data")}

#: The parameters that define the training protocol, in the order a report lists them.
PROTOCOL_PARAMS = (
    "depth",
    "model.hidden",
    "model.activations",
    "optim.name",
    "optim.lr",
    "optim.iterations",
    "optim.epochs",
    "optim.batch_size",
    "reg.l2",
    "reg.wd",
    "data.name",
    "data.n_val",
    "dtype",
)

#: What a study's config tells the report (how results are judged, which contrasts are
#: confirmatory): read from the runs' config, never logged as params.
STUDY_SETTINGS = ("task.metric", "task.goal", "contrasts")

#: The rows of the report's protocol table: the protocol less what the report shows
#: elsewhere (depth is a factor or in the cell label; the data source has its own line).
PROTOCOL_ROWS = tuple(p for p in PROTOCOL_PARAMS if p not in ("depth", "data.name"))

_DEFAULT = Meaning()


def meaning(key: str) -> Meaning:
    """The entry of ``key``: its own, else its longest prefix's (``tracking.uri`` ->
    ``tracking``), else the defaults. ``hydra/launcher`` reads as ``hydra.launcher``."""
    key = key.replace("/", ".")
    while True:
        if key in KEYS:
            return KEYS[key]
        if "." not in key:
            return _DEFAULT
        key = key.rsplit(".", 1)[0]


#: The factors of a run name, in this order (the seed comes last, on its own).
FACTORS = ("init", "reg", "data", "depth", "optim")
#: Params that set what a cell costs: cells alike in these take about as long.
COST_KEYS = tuple(k for k, m in KEYS.items() if m.cost)
#: The task node's fields that the framework reads; the rest are the task's own.
TASK_FRAMEWORK_KEYS = tuple(k.removeprefix("task.") for k in KEYS if k.startswith("task."))
#: The keys of the factors (then the seed), in run-name order: what a runs table shows first.
FACTOR_KEYS_IN_ORDER = tuple(
    k for f in (*FACTORS, "seed") for k, m in KEYS.items() if m.factor == f
)
#: Keys that pick seeds, not the cell (``seed``, ``data_seed``).
SEEDING_KEYS = tuple(k for k, m in KEYS.items() if m.seed)
#: Keys the report never makes a factor of their own (their factor or the seed stands for them).
NOT_OWN_FACTORS = frozenset(k for k, m in KEYS.items() if not m.own_factor)


def is_key_of(key: str, mlp: bool) -> bool:
    """``key`` belongs to the config of the built-in MLP (``mlp``) or of a user task."""
    tasks = meaning(key).tasks
    return tasks == BOTH or tasks == (MLP if mlp else USER)


def hashed_keys(flat: dict[str, Any], mlp: bool) -> dict[str, Any]:
    """What the config hash covers: the task's hashed keys, without keys added later when
    they hold their hash-neutral default."""
    out = {}
    for key, value in flat.items():
        m = meaning(key)
        if is_key_of(key, mlp) and m.hashed and not (m.is_later and value == m.later):
            out[key] = value
    return out


def is_seed(key: str) -> bool:
    return meaning(key).seed


def param_applies(key: str, value: Any, flat: dict[str, Any], mlp: bool) -> bool:
    """``key`` (with ``value``) is logged as a param of the run of ``flat``."""
    m = meaning(key)
    if not is_key_of(key, mlp) or m.param == NEVER or (m.param == WHEN_SET and value is None):
        return False
    return m.only_with is None or flat.get(m.only_with[0]) == m.only_with[1]


def keys_of_factor(factor: str) -> tuple[str, ...]:
    """The config keys a factor stands for (``data`` -> ``data.name``, ``data.n_train``);
    a key that is no factor stands for itself."""
    return tuple(k for k, m in KEYS.items() if m.factor == factor) or (factor,)


def factor_of(key: str) -> str:
    """The factor a typed override of ``key`` chooses (``init.name`` -> ``init``), else
    the key itself (``optim.lr``)."""
    return meaning(key).factor or key
