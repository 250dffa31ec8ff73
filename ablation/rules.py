"""The range of every numeric config value, in one table, checked for every cell before
any run exists (``ablation.config``'s ``__post_init__`` methods call :func:`check_fields`).

Every float must be finite (NaN and inf are refused everywhere, with or without a rule).
Rules that join two fields (training rows left after ``data.n_val``) are in config.py,
beside the fields.

Decided and not enforced: ``optim.eval_every`` may exceed ``optim.iterations`` (the last
step is always evaluated), and ``optim.batch_size`` may exceed the training rows (one batch
per epoch: full batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ablation.errors import ConfigError

#: Fewest training rows a cell may keep (after data.n_val is taken out of them).
MIN_TRAIN_ROWS = 100
#: Seeds are non-negative and fit in 63 bits: numpy takes larger ones, but MLflow's
#: params, the report's tables and other tools read a seed as a 64-bit signed integer.
MAX_SEED = 2**63 - 1
#: Upper bounds that catch a typo (1e10 iterations) before it runs for a year.
MAX_STEPS = 10**9
MAX_WIDTH = 100_000


@dataclass(frozen=True)
class Bound:
    """``low`` <= value (< if ``low_open``) and value <= ``high`` (< if ``high_open``)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def holds(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return self.high is None or value < self.high or (not self.high_open and value == self.high)

    @property
    def text(self) -> str:
        kind = "an integer" if self.integer else "a finite number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{kind} {'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{kind} {'<' if self.high_open else '<='} {_num(self.high)}"
        return kind


def _num(value: float) -> str:
    if isinstance(value, int) and value >= 2**20 and (value + 1) & value == 0:
        return f"2**{value.bit_length()} - 1"
    return f"{value:g}" if isinstance(value, float) else str(value)


POSITIVE = Bound(0, low_open=True)
NON_NEGATIVE = Bound(0)
FRACTION = Bound(0, 1, high_open=True)  # momentum, Adam's betas
COUNT = Bound(1, MAX_STEPS, integer=True)

#: Field path -> its rule. A list field's rule holds for each of its items.
RULES: dict[str, Bound] = {
    "seed": Bound(0, MAX_SEED, integer=True),
    "data_seed": Bound(0, MAX_SEED, integer=True),
    "depth": Bound(1, integer=True),
    "optim.lr": POSITIVE,
    "optim.momentum": FRACTION,
    "optim.beta1": FRACTION,
    "optim.beta2": FRACTION,
    "optim.max_loss": POSITIVE,
    "optim.iterations": COUNT,
    "optim.epochs": COUNT,
    "optim.batch_size": COUNT,
    "optim.eval_every": COUNT,
    "reg.l2": NON_NEGATIVE,
    "reg.wd": NON_NEGATIVE,
    "data.n_train": Bound(MIN_TRAIN_ROWS, integer=True),
    "data.n_val": Bound(0, integer=True),
    "model.hidden": Bound(1, MAX_WIDTH, integer=True),
    "tracking.outage_wait_s": Bound(0, 86400),  # a day at most
}


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
