"""The range of every numeric config value, checked for every cell before any run exists
(``ablation.config.schema``'s ``__post_init__`` methods call :func:`check_fields`).

The table itself (:data:`RULES`) lives in :mod:`ablation.nn.rules`, where the numeric core
reads the same entries for its own checks. Every float must be finite (NaN and inf are
refused everywhere, with or without a rule). Rules that join two fields (training rows
left after ``data.n_val``, ``lr * wd``) are in the schema, beside the fields.

Decided and not enforced: ``optim.eval_every`` may exceed ``optim.iterations`` (the last
step is always evaluated), and ``optim.batch_size`` may exceed the training rows (one batch
per epoch: full batch).
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from ablation.errors import ConfigError
from ablation.nn.rules import (
    COUNT,
    FRACTION,
    MAX_SEED,
    MAX_STEPS,
    MAX_WIDTH,
    MIN_TRAIN_ROWS,
    NON_NEGATIVE,
    POSITIVE,
    RULES,
    Bound,
)

__all__ = [
    "COUNT",
    "FRACTION",
    "MAX_SEED",
    "MAX_STEPS",
    "MAX_WIDTH",
    "MIN_TRAIN_ROWS",
    "NON_NEGATIVE",
    "POSITIVE",
    "RULES",
    "Bound",
    "check",
    "check_fields",
]


def check(path: str, value: Any) -> None:
    """Raise :class:`ConfigError` unless ``value`` (a number, None, or a list of numbers)
    keeps the rule of ``path`` and is finite."""
    if value is None or isinstance(value, (bool, str)):
        return
    items = value if isinstance(value, (list, tuple)) else [value]
    rule = RULES.get(path)
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue
        if rule is not None and not rule.holds(item):
            raise ConfigError(f"{path}={_shown(value)} is invalid; it must be {rule.text}")
        if rule is None and isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{path}={_shown(value)} is invalid; it must be a finite number")


def _shown(value: Any) -> str:
    return str(list(value)) if isinstance(value, (list, tuple)) else str(value)


def check_fields(node: Any, prefix: str = "") -> None:
    """Check every numeric field of the dataclass instance ``node`` (and the extra
    attributes OmegaConf set on it, e.g. an optimiser's options) against :data:`RULES`."""
    names = [f.name for f in fields(node)] + [k for k in vars(node) if not k.startswith("_")]
    for name in dict.fromkeys(names):
        value = getattr(node, name, None)
        if hasattr(value, "__dataclass_fields__"):
            continue  # a nested node checks itself
        check(f"{prefix}{name}", value)
