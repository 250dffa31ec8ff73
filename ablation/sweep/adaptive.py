"""``seeds=auto``: add seeds only to the cells whose verdict is still open.

The rule (``AUTO_RULE``): every cell first runs seeds ``0 .. min_seeds-1``; after each
round a cell is decided when ``ablation.report.stats.decide`` says so: against the paper's
test accuracy when the cell is a row of the paper's table (within / above / below),
otherwise when its 95% t-interval of test accuracy is at most ``±precision`` points wide.
Each undecided cell gets the next ``batch`` seeds, until it is decided or has ``max_seeds``.

Everything here is a pure function of the values read back from the store, so a rerun of
the same command replays the same rounds (its runs are FINISHED, so nothing trains again)
and goes on where the last one stopped. The sweeper that runs the rounds is
``hydra_plugins.ablation_sweeps.seeds_sweeper.SeedsAutoSweeper``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ablation.errors import ConfigError
from ablation.sweep import judge
from ablation.tracking.schema import FIRST_ROUND_REASON

#: The one sentence that states the rule (README, the sweep's log, the parent run).
AUTO_RULE = (
    "seeds=auto: every cell first runs {min_seeds} seeds; after each round a cell is decided "
    "when, with at least 3 finished seeds, its verdict against the paper's test accuracy is "
    "within, above or below (cells that are a row of the paper's table), or else its 95% "
    "t-interval of {what} is at most ±{precision:g} {unit} wide; each undecided cell "
    "gets {batch} more seed(s) per round until it is decided or has {max_seeds} seeds."
)
#: The metric and goal the paper's rows are stated in: the reference applies only to them.
REFERENCE_METRIC, REFERENCE_GOAL = "test/acc", "max"
#: Seed keys a ``seeds=auto`` sweep schedules itself (``data_seed`` stays the user's).
SEED_KEY = "seed"
#: The packaged paper results (``ablation.report.reference``), found without importing
#: the report package
REFERENCES = Path(__file__).resolve().parents[1] / "report" / "references"


@dataclass(frozen=True)
class AutoSettings:
    """``hydra.sweeper.*`` of ``hydra/sweeper=seeds_auto`` (conf/hydra/sweeper/seeds_auto.yaml)."""

    min_seeds: int = 3
    max_seeds: int = 10
    batch: int = 1
    precision: float = 2.0  # points of test accuracy: the widest interval that decides
    reference: str | None = "ghimire2023"  # packaged paper results (its rows' verdicts)

    def __post_init__(self) -> None:
        if self.min_seeds < 3:
            raise ConfigError(
                f"hydra.sweeper.min_seeds={self.min_seeds} is too small; an interval needs "
                "at least 3 seeds, use min_seeds>=3"
            )
        if self.max_seeds < self.min_seeds:
            raise ConfigError(
                f"hydra.sweeper.max_seeds={self.max_seeds} is below min_seeds="
                f"{self.min_seeds}; use max_seeds>={self.min_seeds}"
            )
        if self.batch < 1:
            raise ConfigError(f"hydra.sweeper.batch={self.batch} is invalid; use batch>=1")
        if not self.precision > 0:
            raise ConfigError(
                f"hydra.sweeper.precision={self.precision} is invalid; use points > 0, e.g. 2"
            )
        known = sorted(p.stem for p in REFERENCES.glob("*.json"))
        if self.reference is not None and self.reference not in known:
            raise ConfigError(
                f"hydra.sweeper.reference={self.reference!r} is not a packaged paper; choose "
                f"one of: {', '.join(known)} (or null: no cell is a paper row)"
            )

    @property
    def rule(self) -> str:
        return self.rule_for("test/acc")

    def rule_for(self, metric: str) -> str:
        """The rule for cells judged by ``metric`` (``task.metric``): accuracies in points,
        any other metric in its own units."""
        if judge.is_accuracy(metric):
            what = "test accuracy" if metric == "test/acc" else metric
            return AUTO_RULE.format(**self.__dict__, what=what, unit="points")
        return AUTO_RULE.format(**self.__dict__, what=metric, unit=f"(in {metric}'s own units)")


@dataclass(frozen=True)
class CellState:
    """What the store says of one cell after a round."""

    label: str
    scheduled: int  # seeds 0 .. scheduled-1 have been launched
    values: tuple[float, ...]  # final task.metric of its FINISHED seeds (accuracies in %)
    reference: float | None = None  # the paper's test accuracy (%), if the cell is a row


@dataclass(frozen=True)
class CellPlan:
    """What a round decided for one cell: its verdict and the seeds it runs next."""

    decided: bool
    verdict: str
    n: int
    half_width: float
    next_seeds: tuple[int, ...] = field(default=())
    reason: str = ""  # why the next seeds run (the ``ablation.seed_reason`` tag)

    @property
    def capped(self) -> bool:
        return not self.decided and not self.next_seeds


def _interval_text(n: int, half_width: float) -> str:
    if math.isinf(half_width) or math.isnan(half_width):
        return f"n={n}, no interval"
    return f"n={n}, ±{half_width:.1f}"


def plan_cell(state: CellState, settings: AutoSettings, next_round: int) -> CellPlan:
    """Decide one cell (``AUTO_RULE``) and, if it is open and below the cap, its next seeds."""
    from ablation.report.stats import decide  # scipy: only when a round is decided

    d = decide(
        state.values,
        reference=state.reference,
        max_half_width=settings.precision,
        min_n=3,
    )
    room = settings.max_seeds - state.scheduled
    if d.decided or room <= 0:
        return CellPlan(d.decided, d.verdict, d.n, d.half_width)
    seeds = tuple(range(state.scheduled, state.scheduled + min(settings.batch, room)))
    if state.reference is not None:
        why = f"{d.verdict.split(' (')[0]} vs paper {state.reference:g}"
    else:
        why = f"inconclusive ({_interval_text(d.n, d.half_width)})"
    if d.n < state.scheduled:
        why += f", {state.scheduled - d.n} of {state.scheduled} seeds not finished"
    reason = f"round {next_round}: {state.label} {why}"
    return CellPlan(False, d.verdict, d.n, d.half_width, seeds, reason)


def plan_round(
    cells: Mapping[str, CellState], settings: AutoSettings, next_round: int
) -> dict[str, CellPlan]:
    """One plan per cell (same keys): which cells get seeds in round ``next_round``."""
    return {key: plan_cell(state, settings, next_round) for key, state in cells.items()}


def metric_values(runs: Sequence, metric: str) -> tuple[float, ...]:
    """``metric`` of the FINISHED runs given (None: not run), in points for accuracies."""
    scale = judge.percent_scale(metric)
    return tuple(scale * r.data.metrics[metric] for r in runs if r and metric in r.data.metrics)


def best_first(states: Mapping[str, CellState], goal: str) -> list[str]:
    """The cells' keys from the best mean to the worst (``task.goal``); cells without a
    finished seed last."""
    means = {k: math.fsum(s.values) / len(s.values) for k, s in states.items() if s.values}
    return [*judge.best_first(means, goal), *(k for k in states if k not in means)]


def first_round_reason(settings: AutoSettings) -> str:
    return f"{FIRST_ROUND_REASON} the first {settings.min_seeds} seeds of every cell"


# --- the sweep's arguments ---------------------------------------------------------------


def is_auto(sweeper_cfg) -> bool:
    """``hydra/sweeper=seeds_auto`` declares ``max_seeds``; no other sweeper does."""
    return sweeper_cfg is not None and "max_seeds" in sweeper_cfg


def _key(argument: str) -> str:
    return argument.split("=", 1)[0].lstrip("+~")


def without_seed(arguments: Sequence[str]) -> tuple[list[str], list[str]]:
    """``(kept, dropped)``: the sweep's arguments without the ``seed`` ones it schedules."""
    kept = [a for a in arguments if _key(a) != SEED_KEY]
    return kept, [a for a in arguments if _key(a) == SEED_KEY]


def first_round_arguments(arguments: Sequence[str], min_seeds: int) -> list[str]:
    """The sweep's arguments for round 1: its grid, each cell with seeds 0..min_seeds-1."""
    kept, _ = without_seed(arguments)
    return [*kept, f"{SEED_KEY}=range({int(min_seeds)})"]


def settings_of(sweeper_cfg) -> AutoSettings:
    return AutoSettings(
        min_seeds=int(sweeper_cfg.get("min_seeds", 3)),
        max_seeds=int(sweeper_cfg.get("max_seeds", 10)),
        batch=int(sweeper_cfg.get("batch", 1)),
        precision=float(sweeper_cfg.get("precision", 2.0)),
        reference=sweeper_cfg.get("reference", "ghimire2023") or None,
    )


# --- the paper's rows ----------------------------------------------------------------------


def paper_value(
    params: Mapping[str, object], reference, metric: str = "test/acc", goal: str = "max"
) -> float | None:
    """The paper's test accuracy (%) when a cell (its flattened params) is a row of
    ``reference`` (an ``ablation.report.reference.Reference``) in the paper's setting, and
    the cells are judged by what the paper states (test/acc, higher is better)."""
    if reference is None or (metric, goal) != (REFERENCE_METRIC, REFERENCE_GOAL):
        return None
    from ablation.report.cells import data_label

    factors = {
        "init": str(params.get("init.name")),
        "reg": str(params.get("reg.name")),
        "data": data_label(params.get("data.name"), params.get("data.n_train")),
    }
    for key, level in reference.setting.items():
        if key in params and str(params[key]) != str(level):
            return None
    for row in reference.rows:
        if all(factors.get(k) == str(v) for k, v in row.factors.items()):
            return float(row.test_acc)
    return None
