"""How a sweep judges its cells: by ``task.metric`` in the direction of ``task.goal``.

``goal`` is ``max`` (higher is better: accuracy, F1) or ``min`` (lower is better: an error,
a loss, a time). Accuracies (keys ending in ``acc``) are stored as fractions in [0, 1] and
shown with their percent; any other metric is shown as logged.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import TypeVar

K = TypeVar("K")

#: The words for a goal, as a sentence uses them.
GOAL_WORDS = {"max": "higher is better", "min": "lower is better"}


def is_accuracy(metric: str) -> bool:
    """Accuracies (``test/acc``, ``val/acc``) are fractions in [0, 1], shown in percent."""
    return metric.rsplit("/", 1)[-1] == "acc"


def percent_scale(metric: str) -> float:
    """The factor to points: 100 for an accuracy (seeds=auto's precision is in points), 1
    for any other metric (its precision is in the metric's own units)."""
    return 100.0 if is_accuracy(metric) else 1.0


def value_text(metric: str, value: float) -> str:
    """``0.9733 (97.33%)`` for an accuracy, ``0.0267`` (4 significant digits) otherwise."""
    if is_accuracy(metric):
        return f"{value:.4f} ({value:.2%})"
    return f"{value:.4g}"


def sign(goal: str) -> float:
    """+1 when higher is better, -1 when lower is: ``sign * value`` is larger when better."""
    return 1.0 if goal == "max" else -1.0


def best_first(means: Mapping[K, float], goal: str) -> list[K]:
    """The keys of ``means`` from the best mean to the worst, in the goal's direction."""
    return sorted(means, key=lambda k: -sign(goal) * means[k])


def best_key(groups: Mapping[K, Iterable[float]], goal: str) -> K | None:
    """The key whose values have the best mean (None when there is none)."""
    lists = {k: list(v) for k, v in groups.items()}
    means = {k: statistics.mean(v) for k, v in lists.items() if v}
    return best_first(means, goal)[0] if means else None


def summary_metric_key(metric: str) -> str:
    """The sweep run's metric for the best cell's mean: ``sweep/best_test_acc``."""
    return "sweep/best_" + metric.replace("/", "_")
