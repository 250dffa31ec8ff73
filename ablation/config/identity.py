"""Identity of a run and of a cell: hashes of the flattened, resolved config.

``config_hash`` decides resume (a FINISHED run with the same hash is not trained again);
``cell_hash`` groups the seeds of one grid cell. Which keys count is said by
:data:`ablation.config.keys.KEYS` (hashed, seed, added later with a neutral default).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ablation.config.keys import TASK_FRAMEWORK_KEYS, hashed_keys, is_key_of, is_seed

#: ``task._target_`` of the built-in NumPy MLP (conf/task/mlp.yaml).
MLP_TASK = "ablation.run.mlp.train"
#: Every name the built-in MLP's ``task._target_`` has had (configs stored before the
#: package layout of 2026-12 say ``ablation.train_cell.train``); the MLP's task node is
#: not hashed, so the name may change without changing a hash.
MLP_TASKS = (MLP_TASK, "ablation.train_cell.train")

__all__ = [
    "MLP_TASK",
    "MLP_TASKS",
    "TASK_FRAMEWORK_KEYS",  # re-exported: its home is ablation.config.keys
    "cell_hash",
    "config_hash",
    "flatten",
    "hashes",
    "is_mlp_task",
    "task_keys",
]


def is_mlp_task(flat: dict[str, Any]) -> bool:
    """True for the built-in MLP (also for configs without a ``task`` node)."""
    return flat.get("task._target_", MLP_TASK) in MLP_TASKS


def task_keys(flat: dict[str, Any]) -> dict[str, Any]:
    """The keys of ``flat`` that belong to its task: for the MLP everything but ``task.*``;
    for a user task ``seed``, where things are and ``task.*`` except ``task.metric``
    (``Meaning.tasks`` in :data:`~ablation.config.keys.KEYS`)."""
    mlp = is_mlp_task(flat)
    return {k: v for k, v in flat.items() if is_key_of(k, mlp)}


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


def hashes(flat: dict[str, Any]) -> tuple[str, str]:
    """``(config_hash, cell_hash)`` of a flattened config (see the two functions below).

    Keys added later at their neutral value (a null ``data_seed`` follows ``seed``; a zero
    ``reg.wd`` decays nothing) are left out, so configs from before those keys existed keep
    their hashes; so is the MLP's ``task`` node (:func:`task_keys`).
    """
    kept = hashed_keys(flat, is_mlp_task(flat))
    return _digest(kept), _digest({k: v for k, v in kept.items() if not is_seed(k)})


def config_hash(cfg: DictConfig | dict) -> str:
    """Identity of a run: the resolved config minus paths and tracking settings."""
    return hashes(flatten(cfg))[0]


def cell_hash(cfg: DictConfig | dict) -> str:
    """Identity of a grid cell across seeds: :func:`config_hash` without ``seed`` and
    ``data_seed``."""
    return hashes(flatten(cfg))[1]
