"""Which metric a figure shows, in which units, inside which range, and which way is better.

Accuracies are shown in percent (a column or history holding fractions, every value <= 1,
is multiplied by 100; the report's ``test_acc`` column already holds percent); any other
metric is shown as logged. The axis label names the metric. ``goal`` (max|min) says which
way is better where a figure marks a best; by default losses, errors and times are "min".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

SPLITS = {"test": "test", "val": "validation", "train": "training"}
_ACCURACY = re.compile(r"(^|[/_])(acc|accuracy)$")
_FRACTION = re.compile(r"(^|[/_])(f1|macro_f1|micro_f1|precision|recall|auc|ap|r2)(_\d+)?$")
_LOWER_IS_BETTER = re.compile(r"(loss|err|error|time|_s|seconds|mse|mae|rmse|nll)$")
_NON_NEGATIVE = _LOWER_IS_BETTER  # losses, errors and times are never below 0


@dataclass(frozen=True)
class Metric:
    """One metric as a figure shows it: ``key`` as logged (``test/acc``), ``percent`` when
    it is an accuracy, its display ``range`` (intervals are clipped to it) and ``goal``."""

    key: str
    percent: bool
    range: tuple[float, float]
    goal: str

    @property
    def split(self) -> str:
        head = self.key.split("/")[0] if "/" in self.key else ""
        return SPLITS.get(head, head)

    @property
    def label(self) -> str:
        """'test accuracy (%)' for accuracies, the logged name (``test/macro_f1``) otherwise."""
        if self.percent:
            return f"{self.split} accuracy (%)".strip()
        return self.key

    @property
    def range_text(self) -> str:
        lo, hi = self.range
        if math.isinf(lo) and math.isinf(hi):
            return ""
        fmt = lambda v: "\u221e" if math.isinf(v) else f"{v:g}"  # noqa: E731
        return f"[{fmt(lo)},\u00a0{fmt(hi)}]"

    @property
    def best_word(self) -> str:
        return "highest" if self.goal == "max" else "lowest"

    def better(self, values: pd.Series):
        """The index of the best value (NaNs ignored) in the goal's direction."""
        return values.idxmax() if self.goal == "max" else values.idxmin()

    def column(self, frame: pd.DataFrame) -> str:
        """The frame's column for this metric: ``test/acc`` itself, the report's ``m:test/err``
        or ``test_acc``."""
        for name in (
            self.key,
            "m:" + self.key,
            self.key.replace("/", "_"),
            self.key.split("/")[-1],
        ):
            if name in frame.columns:
                return name
        raise KeyError(f"no column for metric {self.key!r} (columns: {', '.join(frame.columns)})")

    def scaled(self, values) -> np.ndarray:
        """Values in display units: fractions of an accuracy times 100, others as logged."""
        x = np.asarray(values, dtype=float)
        finite = x[np.isfinite(x)]
        if self.percent and finite.size and np.abs(finite).max() <= 1.0 + 1e-9:
            return 100.0 * x
        return x


def metric_info(metric: str | Metric = "test/acc", goal: str | None = None) -> Metric:
    """The ``Metric`` for a logged key; ``goal`` None: "min" for losses, errors and times."""
    if isinstance(metric, Metric):
        return metric if goal is None else Metric(metric.key, metric.percent, metric.range, goal)
    key = str(metric)
    name = key.split("/")[-1].lower()
    if goal is None:
        goal = "min" if _LOWER_IS_BETTER.search(name) else "max"
    if goal not in ("max", "min"):
        raise ValueError(f"goal must be 'max' or 'min', not {goal!r}")
    if _ACCURACY.search(name):
        return Metric(key, True, (0.0, 100.0), goal)
    if _FRACTION.search(name):
        return Metric(key, False, (0.0, 1.0), goal)
    if _NON_NEGATIVE.search(name):
        return Metric(key, False, (0.0, math.inf), goal)
    return Metric(key, False, (-math.inf, math.inf), goal)
