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
parallel (the joblib launcher, ``hydra/launcher=local``) otherwise. The sweep callback,
which composes every cell once, decides and writes the answer into the launcher's own
config (``hydra.launcher.in_turn``, declared in ``conf/hydra/launcher/auto.yaml``); the
jobs read it there too, to learn their share of the machine (:func:`blas_threads`).
``hydra/launcher=basic`` or ``hydra/launcher=local`` forces one.
"""

from __future__ import annotations

import os

from omegaconf import DictConfig

from ablation.config.schema import is_full_batch

#: Set by the user (not by this package) to cap the cores one cell may use.
BLAS_THREADS_ENV = "ABLATION_BLAS_THREADS"
#: The one launcher that runs cells in turn, in the sweep's own process.
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


def in_turn(cells) -> bool:
    """True when every cell is full-batch: then one cell at a time on all cores is faster.

    ``cells`` are :class:`ablation.cell.cell.Cell` values (or anything with ``optim.name``).
    """
    return all(
        c.full_batch if hasattr(c, "full_batch") else is_full_batch(c.optim.name) for c in cells
    )


def cores() -> int:
    return os.cpu_count() or 1


def is_auto(launcher_cfg: DictConfig) -> bool:
    """The auto launcher declares ``in_turn`` in its config; no other launcher does."""
    return "in_turn" in launcher_cfg


def blas_threads(launcher_cfg: DictConfig | None) -> int | None:
    """The cores one cell may use: the user's ABLATION_BLAS_THREADS, else 1 side by side,
    else all (``None``: no limit). ``launcher_cfg`` is None outside a multirun."""
    if os.environ.get(BLAS_THREADS_ENV):
        return int(os.environ[BLAS_THREADS_ENV])
    if launcher_cfg is None or launcher_cfg.get("_target_") == BASIC_LAUNCHER:
        return None
    if is_auto(launcher_cfg):
        return cores() if launcher_cfg.in_turn else 1
    return 1
