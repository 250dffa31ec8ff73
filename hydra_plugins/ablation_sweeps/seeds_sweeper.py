"""Hydra sweeper plugin ``hydra/sweeper=seeds_auto`` (``seeds=auto``): seeds that decide.

Round 1 launches the grid (``hydra.sweeper.params`` and the command line) with seeds
``0 .. min_seeds-1``; the sweep callback (``ablation.sweep.callback``) has composed, validated and
estimated exactly those jobs. After each round the sweeper reads the cells' final test
accuracies back from the store and asks ``ablation.sweep.adaptive.plan_round`` which cells get
another seed; it launches those (validated first) until no cell does. Every job carries
its reason in ``hydra.job.env_set`` (``ablation.seed_reason`` tag) and, like every job of
the multirun, the sweep's parent run id.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, read_write

log = logging.getLogger("ablation")


class SeedsAutoSweeper(Sweeper):
    def __init__(
        self,
        params: dict[str, str] | None = None,
        min_seeds: int = 3,
        max_seeds: int = 10,
        batch: int = 1,
        precision: float = 2.0,
        reference: str | None = "ghimire2023",
    ) -> None:
        from ablation.sweep.adaptive import AutoSettings

        super().__init__()
        self.params = dict(params or {})
        self.settings = AutoSettings(min_seeds, max_seeds, batch, precision, reference or None)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None
        self.job_idx = 0
        self.cells: dict[tuple[str, int], Any] = {}  # (cell, seed) -> ablation.cell.cell.Cell
        self._client = None
        self._exp_id: str | None = None
        self._builder = None  # ablation.sweep.grid.CellBuilder, made by _grid

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    # -- the rounds ---------------------------------------------------------------------

    def sweep(self, arguments: list[str]) -> list[list[JobReturn]]:
        from ablation.errors import user_errors
        from ablation.sweep import adaptive

        assert self.config is not None and self.launcher is not None
        params = [f"{k}={v}" for k, v in self.params.items()]
        grid, dropped = adaptive.without_seed([*params, *arguments])
        if dropped:
            log.warning(f"seeds=auto schedules the seeds itself: ignoring {' '.join(dropped)}")
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        with user_errors():
            units = self._grid(grid)  # one override list per cell, without the seed
            reference = self._reference()
        metric, goal = self._judged_by(units)
        log.info(self.settings.rule_for(metric))

        names = _short_names(units)
        seeds: dict[str, list[int]] = {key: [] for key in units}
        todo = {key: list(range(self.settings.min_seeds)) for key in units}
        reason = {key: adaptive.first_round_reason(self.settings) for key in units}
        returns: list[list[JobReturn]] = []
        round_no = 1
        while todo:
            with user_errors():
                jobs = []
                for key, new in todo.items():
                    seeds[key] += new
                    for seed in new:
                        self.cells[key, seed] = self._cell(units[key], seed)
                        jobs.append([*units[key], f"seed={seed}", _reason_override(reason[key])])
                if round_no > 1:
                    self._count_jobs([self.cells[k, s] for k, new in todo.items() for s in new])
            results = list(self.launcher.launch(jobs, initial_job_idx=self.job_idx))
            for r in results:
                _ = r.return_value  # a job that raised fails the sweep here, as in Hydra's
            self.job_idx += len(jobs)
            returns.append(results)

            done = self._finished()
            states = {
                key: adaptive.CellState(
                    label=names[key] or self.cells[key, 0].label,
                    scheduled=len(seeds[key]),
                    values=adaptive.metric_values(
                        [done.get(self.cells[key, s].config_hash) for s in seeds[key]], metric
                    ),
                    reference=adaptive.paper_value(
                        self.cells[key, 0].params, reference, metric, goal
                    ),
                )
                for key in units
            }
            round_no += 1
            plans = adaptive.plan_round(states, self.settings, round_no)
            todo = {k: list(p.next_seeds) for k, p in plans.items() if p.next_seeds}
            reason = {k: plans[k].reason for k in todo}
            self._log_round(round_no, plans)
        self._summary(plans, states, round_no - 1, metric, goal)
        return returns

    # -- helpers ------------------------------------------------------------------------

    def _grid(self, grid: list[str]) -> dict[str, list[str]]:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        from ablation.errors import ConfigError
        from ablation.sweep.grid import CellBuilder

        # one builder for every round: Hydra composes once per choice of config groups
        self._builder = CellBuilder(self.config, self.hydra_context.config_loader)
        (jobs,) = BasicSweeper.split_arguments(self._builder.learn(grid), None)
        if not jobs:
            raise ConfigError("the sweep is empty: a sweep list has no values (e.g. 'init=')")
        return {" ".join(job): list(job) for job in jobs}

    def _cell(self, overrides: list[str], seed: int):
        """One job, composed and validated exactly as the launcher will run it."""
        return self._builder.cell([*overrides, f"seed={seed}"])

    def _judged_by(self, units: dict[str, list[str]]) -> tuple[str, str]:
        """(task.metric, task.goal) of the sweep, from its first cell (validated here)."""
        from ablation.errors import user_errors

        with user_errors():
            task = self._cell(next(iter(units.values())), 0).config.task
        return task.metric, task.goal

    def _reference(self):
        if not self.settings.reference:
            return None
        from ablation.report.reference import load_reference

        return load_reference(self.settings.reference)

    def _store(self):
        """The client and experiment id of the sweep's store (the cells' own)."""
        from ablation import tracking

        if self._client is None:
            first = next(iter(self.cells.values())).config
            # the store the sweep callback resolved (the jobs' own), else as it would
            uri = _env_value(self.config, tracking.schema.SWEEP_URI_ENV)
            uri = uri or tracking.resolve_uri(first.tracking.uri)
            self._client = tracking.client_for(uri)
            self._exp_id = tracking.ensure_experiment(self._client, uri, first.experiment_name)
        return self._client, self._exp_id

    def _finished(self) -> dict[str, Any]:
        from ablation import tracking

        return tracking.finished_hashes(*self._store())

    def _count_jobs(self, new_cells: list) -> None:
        """Grow the sweep's job counts in every job's env_set, for the progress line."""
        from ablation import tracking

        done = self._finished()
        added = {
            tracking.SWEEP_TOTAL_ENV: len(new_cells),
            tracking.SWEEP_TODO_ENV: sum(c.config_hash not in done for c in new_cells),
        }
        overrides = self.config.hydra.overrides.hydra
        with read_write(overrides):
            for i, line in enumerate(list(overrides)):
                for env, n in added.items():
                    prefix = f"++hydra.job.env_set.{env}="
                    if line.startswith(prefix):
                        old = int(line[len(prefix) :].strip("'") or 0)
                        overrides[i] = f"{prefix}{tracking.quote(str(old + n))}"

    def _log_round(self, round_no: int, plans) -> None:
        lines = [
            f"  + seed {','.join(map(str, p.next_seeds))}: {p.reason}"
            for p in plans.values()
            if p.next_seeds
        ]
        head = (
            f"seeds=auto after round {round_no - 1}: "
            f"{sum(p.decided for p in plans.values())} of {len(plans)} cells decided, "
            f"{sum(p.capped for p in plans.values())} undecided at "
            f"max_seeds={self.settings.max_seeds}"
        )
        tail = f"; round {round_no}: {len(lines)} more run(s)" if lines else "; no more rounds"
        log.info(head + tail + "".join(f"\n{line}" for line in lines))

    def _summary(self, plans, states, rounds: int, metric: str, goal: str) -> None:
        """The last verdict of every cell, best first by ``task.metric`` in the direction of
        ``task.goal``, with its mean, on the console and on the parent run."""
        from ablation import tracking
        from ablation.sweep import adaptive, judge

        unit = "%" if judge.is_accuracy(metric) else ""
        rows = []
        for key in adaptive.best_first(states, goal):
            p, values = plans[key], states[key].values
            ref = states[key].reference
            detail = [f"n={p.n}"]
            if math.isfinite(p.half_width):
                detail.append(f"±{p.half_width:.2f}")
            if ref is not None:
                detail.append(f"paper {ref:g}")
            if values:
                detail.append(f"mean {math.fsum(values) / len(values):.4g}{unit}")
            cap = "" if p.decided else f", undecided at max_seeds={self.settings.max_seeds}"
            rows.append(f"{states[key].label}: {p.verdict} ({', '.join(detail)}){cap}")
        order = f"best {metric} first ({judge.GOAL_WORDS[goal]})"
        log.info(f"seeds=auto verdicts, {order}:\n  " + "\n  ".join(rows))
        parent = _env_value(self.config, tracking.PARENT_ENV)
        if parent:
            client, _ = self._store()
            rule = self.settings.rule_for(metric)
            text = f"{rule}\n{rounds} round(s); {order}\n" + "\n".join(rows) + "\n"
            tracking.retry(client.log_text, parent, text, "seeds_auto.txt")
            tracking.set_tags(
                client,
                parent,
                {
                    tracking.schema.TAG_SEEDS_AUTO_ROUNDS: rounds,
                    tracking.schema.TAG_SEEDS_AUTO_DECIDED: sum(p.decided for p in plans.values()),
                    tracking.schema.TAG_SEEDS_AUTO_UNDECIDED: sum(
                        not p.decided for p in plans.values()
                    ),
                },
            )


def _short_names(units: dict[str, list[str]]) -> dict[str, str]:
    """Each cell by the overrides that tell it from the others (``init=random optim.lr=5``)."""
    shared = set.intersection(*(set(job) for job in units.values())) if units else set()
    return {key: " ".join(o for o in job if o not in shared) for key, job in units.items()}


def _reason_override(reason: str) -> str:
    from ablation import tracking

    return f"++hydra.job.env_set.{tracking.SEED_REASON_ENV}={tracking.quote(reason)}"


def _env_value(config: DictConfig, env: str) -> str | None:
    prefix = f"++hydra.job.env_set.{env}="
    for line in config.hydra.overrides.hydra:
        if line.startswith(prefix):
            raw = line[len(prefix) :]
            if raw.startswith("'") and raw.endswith("'"):
                raw = raw[1:-1].replace("\\'", "'").replace("\\\\", "\\")
            return raw or None
    return None
