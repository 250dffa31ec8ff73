"""The range of every numeric setting, in one table (:data:`RULES`), read by the numeric
core's own checks (a ``ValueError`` for direct callers) and by the config schema's
(``ablation.config.rules``: a ``ConfigError`` naming the config key, before any run).

Keyed by the config path (``optim.lr``); the core's argument of the same meaning
(``lr``) reads the same entry. Plain Python: importing it imports nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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

#: Config path -> its rule. A list field's rule holds for each of its items.
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

#: Decoupled weight decay multiplies the weights by ``1 - lr * wd`` before every update:
#: below 1, else it flips or zeroes them.
DECAY_RULE = "lr * wd < 1"


def decay_is_valid(lr: float, wd: float) -> bool:
    """``1 - lr * wd > 0``: each update shrinks the weights, never flips or zeroes them."""
    return 1.0 - float(lr) * float(wd) > 0


def checked(name: str, path: str, value) -> float:
    """``float(value)`` if it keeps the rule of ``path``, else ``ValueError`` naming
    ``name`` (the core's argument) and the rule; for callers of the numeric core."""
    rule = RULES[path]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not rule.holds(number):
        raise ValueError(f"{name} must be {rule.text}, got {value!r}")
    return number
