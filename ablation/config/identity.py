"""Identity of a run and of a cell: hashes of the flattened, resolved config.

``config_hash`` decides resume (a FINISHED run with the same hash is not trained again);
``cell_hash`` groups the seeds of one grid cell. Keys in ``UNHASHED_KEYS`` say where
things are, not what is computed, and are left out of both.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: Keys left out of the config hash: where things are, not what is computed.
UNHASHED_KEYS = (
    "tracking",
    "experiment_name",
    "rerun",
    "report",
    "data.path",
    "data.cache_dir",
    "plugins",
)

#: ``task._target_`` of the built-in NumPy MLP (conf/task/mlp.yaml).
MLP_TASK = "ablation.run.mlp.train"
#: Every name the built-in MLP's ``task._target_`` has had (configs stored before the
#: package layout of 2026-12 say ``ablation.train_cell.train``); the MLP's task node is
#: not hashed, so the name may change without changing a hash.
MLP_TASKS = (MLP_TASK, "ablation.train_cell.train")
#: Fields of the ``task`` node that the framework reads; the rest are the task's own.
TASK_FRAMEWORK_KEYS = ("_target_", "metric", "goal")
#: The framework keys of ``task`` that say how results are judged, not what is computed:
#: neither hashed nor a param of a user task's runs (the runs carry them as tags).
JUDGING_KEYS = ("task.metric", "task.goal")


def is_mlp_task(flat: dict[str, Any]) -> bool:
    """True for the built-in MLP (also for configs without a ``task`` node)."""
    return flat.get("task._target_", MLP_TASK) in MLP_TASKS


def task_keys(flat: dict[str, Any]) -> dict[str, Any]:
    """The keys that define what this task computes, plus where things are (filtered
    later): for the MLP everything but ``task.*``; for a user task ``seed``, the
    framework's own settings and ``task.*`` except ``task.metric`` and ``task.goal`` (how the
    results are judged)."""
    if is_mlp_task(flat):
        return {k: v for k, v in flat.items() if not _under(k, "task")}
    return {
        k: v
        for k, v in flat.items()
        if k == "seed"
        or any(_under(k, u) for u in UNHASHED_KEYS)
        or (_under(k, "task") and k not in JUDGING_KEYS)
    }


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


#: Keys added after stores existed, left out of both hashes at their neutral value, so
#: configs from before them keep their hashes (and their runs are still found on resume).
LATER_KEYS = {"data_seed": None, "reg.wd": 0.0}

#: Keys that pick seeds, not the cell: left out of the cell hash.
SEED_KEYS = ("seed", "data_seed")


def hashes(flat: dict[str, Any]) -> tuple[str, str]:
    """``(config_hash, cell_hash)`` of a flattened config (see the two functions below).

    Keys in ``LATER_KEYS`` at their neutral value (a null ``data_seed`` follows ``seed``; a
    zero ``reg.wd`` decays nothing) are left out, so configs from before those keys existed
    keep their hashes; so is the MLP's ``task`` node (:func:`task_keys`).
    """
    kept = {
        k: v
        for k, v in task_keys(flat).items()
        if not any(_under(k, u) for u in UNHASHED_KEYS)
        and not (k in LATER_KEYS and v == LATER_KEYS[k])
    }
    return _digest(kept), _digest({k: v for k, v in kept.items() if k not in SEED_KEYS})


def config_hash(cfg: DictConfig | dict) -> str:
    """Identity of a run: the resolved config minus paths and tracking settings."""
    return hashes(flatten(cfg))[0]


def cell_hash(cfg: DictConfig | dict) -> str:
    """Identity of a grid cell across seeds: :func:`config_hash` without ``seed`` and
    ``data_seed``."""
    return hashes(flatten(cfg))[1]


def _under(key: str, prefix: str) -> bool:
    return key == prefix or key.startswith(prefix + ".")
