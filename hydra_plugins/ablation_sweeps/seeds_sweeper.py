"""Hydra sweeper plugin ``hydra/sweeper=seeds_auto`` (``seeds=auto``): seeds that decide.

Round 1 launches the grid (``hydra.sweeper.params`` and the command line) with seeds
``0 .. min_seeds-1``; the sweep callback (``ablation.sweep``) has composed, validated and
estimated exactly those jobs. After each round the sweeper reads the cells' final test
accuracies back from the store and asks ``ablation.adaptive.plan_round`` which cells get
another seed; it launches those (validated first) until no cell does. Every job carries
its reason in ``hydra.job.env_set`` (``ablation.seed_reason`` tag) and, like every job of
the multirun, the sweep's parent run id.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
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
        from ablation.adaptive import AutoSettings

        super().__init__()
        self.params = dict(params or {})
        self.settings = AutoSettings(min_seeds, max_seeds, batch, precision, reference or None)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.launcher = None
        self.job_idx = 0

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
        from ablation import adaptive, tracking
        from ablation.errors import user_errors

        assert self.config is not None and self.launcher is not None
        grid, dropped = adaptive.without_seed([*(f"{k}={v}" for k, v in self.params.items())])
        grid += adaptive.without_seed(arguments)[0]
        dropped += adaptive.without_seed(arguments)[1]
        if dropped:
            log.warning(f"seeds=auto schedules the seeds itself: ignoring {' '.join(dropped)}")
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")

        with user_errors():
            units = self._grid(grid)  # one override list per cell, without the seed
            reference = self._reference()
            log.info(self.settings.rule)
        names = _short_names(units)
        seeds = {key: list(range(self.settings.min_seeds)) for key in units}
        cells: dict[tuple[str, int], Any] = {}  # (unit, seed) -> Cell
        returns: list[list[JobReturn]] = []
        todo = {key: seeds[key] for key in units}
        reason = {key: adaptive.first_round_reason(self.settings) for key in units}
        round_no, client, exp_id, t0 = 1, None, None, time.time()
        while todo:
            jobs = []
            with user_errors():
                for key, new in todo.items():
                    for seed in new:
                        cells[key, seed] = self._cell(units[key], seed)
                        jobs.append([*units[key], f"seed={seed}", _reason_override(reason[key])])
            if client is None:
                first = next(iter(cells.values())).config
                uri = tracking.resolve_uri(first.tracking.uri)
                client = tracking.client_for(uri)
                exp_id = tracking.ensure_experiment(client, uri, first.experiment_name)
            if round_no > 1:
                self._count_jobs(
                    client, exp_id, [cells[k, s] for k, new in todo.items() for s in new]
                )
            results = list(self.launcher.launch(jobs, initial_job_idx=self.job_idx))
            for r in results:
                _ = r.return_value  # a job that raised fails the sweep here, as in Hydra's
            self.job_idx += len(jobs)
            returns.append(results)

            done = tracking.finished_hashes(client, exp_id)
            states = {}
            for key in units:
                values = []
                for seed in seeds[key]:
                    run = done.get(cells[key, seed].config_hash)
                    if run is not None and "test/acc" in run.data.metrics:
                        values.append(100.0 * run.data.metrics["test/acc"])
                cell = cells[key, 0]
                states[key] = adaptive.CellState(
                    label=names[key] or cell.label,
                    scheduled=len(seeds[key]),
                    values=tuple(values),
                    reference=adaptive.paper_value(cell.params, reference),
                )
            round_no += 1
            plans = adaptive.plan_round(states, self.settings, round_no)
            todo = {k: list(p.next_seeds) for k, p in plans.items() if p.next_seeds}
            reason = {k: plans[k].reason for k in todo}
            for key, new in todo.items():
                seeds[key] += new
            self._log_round(round_no, plans, states)
        self._summary(client, exp_id, plans, states, round_no - 1, time.time() - t0)
        return returns

    # -- helpers ------------------------------------------------------------------------

    def _grid(self, grid: list[str]) -> dict[str, list[str]]:
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

        from ablation.errors import ConfigError

        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        (jobs,) = BasicSweeper.split_arguments(parser.parse_overrides(grid), None)
        if not jobs:
            raise ConfigError("the sweep is empty: a sweep list has no values (e.g. 'init=')")
        return {" ".join(job): list(job) for job in jobs}

    def _cell(self, overrides: list[str], seed: int):
        """Compose and validate one job exactly as the launcher will."""
        from ablation.cell import Cell
        from ablation.errors import ConfigError

        job = [*overrides, f"seed={seed}"]
        composed = self.hydra_context.config_loader.load_sweep_config(self.config, job)
        try:
            return Cell.from_config(composed, job)
        except ConfigError as err:
            raise ConfigError(f"{err}\n  in the cell: {' '.join(job)}") from None

    def _reference(self):
        if not self.settings.reference:
            return None
        from ablation.report.reference import load_reference

        return load_reference(self.settings.reference)

    def _count_jobs(self, client, exp_id: str, new_cells: list) -> None:
        """Grow the sweep's job counts in every job's env_set, for the progress line."""
        from ablation import tracking

        done = tracking.finished_hashes(client, exp_id)
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

    def _log_round(self, round_no: int, plans, states) -> None:
        open_ = [k for k, p in plans.items() if p.next_seeds]
        lines = [
            f"  + seed {','.join(map(str, plans[k].next_seeds))}: {plans[k].reason}" for k in open_
        ]
        capped = sum(p.capped for p in plans.values())
        head = (
            f"seeds=auto after round {round_no - 1}: "
            f"{sum(p.decided for p in plans.values())} of {len(plans)} cells decided, "
            f"{capped} undecided at max_seeds={self.settings.max_seeds}"
        )
        tail = f"; round {round_no}: {len(lines)} more run(s)" if lines else "; no more rounds"
        log.info(head + tail + "".join(f"\n{line}" for line in lines))

    def _summary(self, client, exp_id, plans, states, rounds: int, seconds: float) -> None:
        """The last verdict of every cell, on the console and on the parent run."""
        from ablation import tracking

        rows = [
            f"{states[k].label}: {p.verdict} (n={p.n}"
            + (
                ""
                if p.half_width != p.half_width or p.half_width == float("inf")
                else f", ±{p.half_width:.2f}"
            )
            + (f", paper {states[k].reference:g}" if states[k].reference is not None else "")
            + (")" if p.decided else f"), undecided at max_seeds={self.settings.max_seeds}")
            for k, p in plans.items()
        ]
        text = f"{self.settings.rule}\n{rounds} round(s)\n" + "\n".join(rows) + "\n"
        log.info("seeds=auto verdicts:\n  " + "\n  ".join(rows))
        parent = _env_value(self.config, tracking.PARENT_ENV)
        if client is not None and parent:
            tracking.retry(client.log_text, parent, text, "seeds_auto.txt")
            tracking.set_tags(
                client,
                parent,
                {
                    "ablation.seeds_auto.rounds": rounds,
                    "ablation.seeds_auto.decided": sum(p.decided for p in plans.values()),
                    "ablation.seeds_auto.undecided": sum(not p.decided for p in plans.values()),
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
