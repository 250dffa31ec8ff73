"""Hydra sweeper plugin ``hydra/sweeper=checked`` (the default): Hydra's basic sweeper, without
composing every job's config a second time before it is launched.

Hydra's basic sweeper composes each job of a batch before launching it, to fail early
(``Sweeper.validate_batch_is_legal``); the launcher then composes each job again to run it.
The sweep callback has already composed and validated every cell, exactly as the launcher
will (:func:`ablation.sweep.grid.expand_cells`, before anything is created), so the jobs it
composed are not composed again here: ~0.1-0.3 s of CPU per cell, minutes before the first
cell of a 10,000-cell grid. A job it did not compose (no callback) is validated as Hydra does.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper


class CheckedSweeper(BasicSweeper):
    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        from ablation.sweep.callback import COMPOSED_JOBS

        unchecked = [job for job in batch if tuple(job) not in COMPOSED_JOBS]
        if unchecked:
            super().validate_batch_is_legal(unchecked)
