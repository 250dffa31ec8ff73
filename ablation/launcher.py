"""``hydra/launcher=auto`` (the default for ``-m``): the faster way to run a sweep here.

The launcher class is ``hydra_plugins.ablation_sweeps.auto_launcher.AutoLauncher``
(Hydra takes plugins from the ``hydra_plugins`` package only); its rules are here.

Measured on a 2-core machine (benchmarks/README.md):

- full-batch cells (``optim=gd``, the paper's protocol) are fastest one at a time, each
  cell spreading its row blocks over one thread per core (``MLP(threads=...)``):
  the 8-cell paper grid took 343-346 s this way against 347-373 s with one cell per
  core (two runs);
- minibatch cells (sgd, momentum, adam: one small block per step) cannot use more
  than one core well, so they are fastest side by side, one process per core with one
  BLAS thread each: 1.7x the throughput of one cell at a time.

So the sweep runs in turn (Hydra's basic launcher) when every cell is full-batch and in
parallel (the joblib launcher, ``hydra/launcher=local``) otherwise. The choice is logged
at the start of the sweep; ``hydra/launcher=basic`` or ``hydra/launcher=local`` forces one.
The cells learn their share of the machine from ``ABLATION_BLAS_THREADS``, set here.
"""

from __future__ import annotations

import os

BLAS_THREADS_ENV = "ABLATION_BLAS_THREADS"


def in_turn(cells_cfgs) -> bool:
    """True when every cell is full-batch: then one cell at a time on all cores is faster."""
    return all(cfg.optim.name == "gd" for cfg in cells_cfgs)


def cores() -> int:
    return os.cpu_count() or 1
