"""What the report compares cells by: one or more metrics, each with a goal (max | min).

The study's own choice is ``task.metric`` / ``task.goal`` (read from the runs' config;
``test/acc`` and ``max`` when absent); ``--metric NAME[,NAME] --goal max|min`` overrides it.
Accuracies (a metric name ending in ``acc``) are shown in percent, any other metric as
logged. The metric's values become a column of the runs table (``Metric.column``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ablation.report.errors import ReportError
from ablation.report.runs import FINAL_METRICS

DEFAULT_METRIC = "test/acc"
GOALS = ("max", "min")
#: metrics whose values cannot be negative: their intervals are clipped at 0
NON_NEGATIVE_ENDINGS = ("loss", "err", "error", "_s", "time")


@dataclass(frozen=True)
class Metric:
    """One compared metric: its key as logged, its goal and how the report shows it."""

    key: str
    goal: str = "max"

    @property
    def is_accuracy(self) -> bool:
        return self.key.endswith("acc")

    @property
    def column(self) -> str:
        """The runs table's column of this metric (``test_acc`` for ``test/acc``)."""
        known = {v: k for k, v in FINAL_METRICS.items() if not k.startswith(("recall", "prec"))}
        return known.get(self.key, "m:" + self.key)

    @property
    def scale(self) -> float:
        return 100.0 if self.is_accuracy else 1.0

    @property
    def what(self) -> str:
        """The metric in words: 'test accuracy' for test/acc, else its key."""
        if self.is_accuracy and "/" in self.key:
            split = self.key.split("/", 1)[0]
            split = {"val": "validation"}.get(split, split)
            return f"{split} accuracy" if self.key.endswith("/acc") else self.key
        return self.key

    @property
    def unit(self) -> str:
        """'points' for accuracies (percentage points), '' for a metric as logged."""
        return "points" if self.is_accuracy else ""

    @property
    def label(self) -> str:
        """A column header: 'test acc (%)' or 'test/err'."""
        return f"{self.key} (%)" if self.is_accuracy else self.key

    @property
    def bounds(self) -> tuple[float, float]:
        if self.is_accuracy:
            return 0.0, 100.0
        if self.key.lower().endswith(NON_NEGATIVE_ENDINGS):
            return 0.0, math.inf
        return -math.inf, math.inf

    @property
    def better(self) -> str:
        return "higher" if self.goal == "max" else "lower"

    def fmt(self, x: float, sign: bool = False) -> str:
        """A value in the metric's units: 2 decimals for accuracies, 4 significant digits else."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "—"
        spec = ".2f" if self.is_accuracy else ".4g"
        return format(x, ("+" if sign else "") + spec)

    def points(self, x: float, sign: bool = False) -> str:
        """'1.20 points' or '0.0123' (the difference with its unit)."""
        text = self.fmt(x, sign)
        return f"{text} {self.unit}" if self.unit and text != "—" else text


def _study_setting(runs: pd.DataFrame, key: str) -> str | None:
    values = {str(c[key]) for c in runs["config"] if isinstance(c, dict) and c.get(key) is not None}
    return sorted(values)[0] if len(values) >= 1 else None


def _by_name(name: str) -> str:
    return "min" if name.lower().endswith(NON_NEGATIVE_ENDINGS) else "max"


def choose(
    runs: pd.DataFrame,
    metric: str | None = None,
    goal: str | None = None,
    study: dict | None = None,
) -> list[Metric]:
    """The compared metrics: ``metric`` (comma-separated) or the study's ``task.metric``.
    Goals: ``goal`` (one for all, or one per metric); else the study's ``task.goal`` for
    the study's metric (max when unset) and, for any other metric, min for losses, errors
    and times, max otherwise (``study``: ``runs.study_settings``). Adds one column per
    metric to ``runs`` in place (percent for accuracies). ``ReportError`` for a metric no
    run has, naming the ones they have."""
    study = study or {}
    study_metric = str(study.get("task.metric") or DEFAULT_METRIC)
    names = [m.strip() for m in (metric or "").split(",") if m.strip()] or [study_metric]
    goals = [g.strip().lower() for g in (goal or "").split(",") if g.strip()]
    for g in goals:
        if g not in GOALS:
            raise ReportError(f"unknown goal {g!r}; choose max (higher is better) or min")
    if len(goals) not in (0, 1, len(names)):
        raise ReportError(
            f"--goal gives {len(goals)} goals for {len(names)} metrics; give one or one per metric"
        )
    study_goal = str(study.get("task.goal") or "max").strip().lower()
    study_goal = study_goal if study_goal in GOALS else "max"

    def goal_of(i: int, name: str) -> str:
        if goals:
            return goals[0] if len(goals) == 1 else goals[i]
        return study_goal if name == study_metric else _by_name(name)

    have = sorted({k for m in runs["metrics"] for k in m}) if "metrics" in runs else []
    out = []
    for i, name in enumerate(dict.fromkeys(names)):
        if name not in have:
            raise ReportError(
                f"unknown metric {name!r}; the runs have: {', '.join(have) or '(no metrics)'}"
            )
        m = Metric(name, goal_of(i, name))
        if m.column not in runs:
            runs[m.column] = [float(d.get(name, math.nan)) * m.scale for d in runs["metrics"]]
        out.append(m)
    return out
