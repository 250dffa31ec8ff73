"""What each of ablation's commands does first, in its own process only.

Importing ``ablation`` as a library changes nothing in the importing process: these are
called by the commands' ``main`` functions (and by a cell's job, which may run in a
joblib worker that imports the stack afresh).
"""

from __future__ import annotations

import gc

#: The collector's first-generation threshold in our own processes (Python's default: 700).
GC_THRESHOLD = 5000


def tune_gc() -> None:
    """Let Python's cyclic garbage collector run less often, for the rest of the process.

    A command imports MLflow, SQLAlchemy, pandas, matplotlib: ~320,000 objects the
    collector tracks (modules, classes, functions, their dicts), nearly all living as long
    as the process, and with the default threshold it walks them again and again while they
    are made: ~20% of that start-up (0.66 s of CPU of 3.2 s, measured on this repository's
    machine). At 5,000 about 0.5 s of it is gone and the collector stays on, so reference
    cycles are still freed; the older generations keep their thresholds. Idempotent."""
    first, older, oldest = gc.get_threshold()
    if first:  # 0: collection was switched off on purpose
        gc.set_threshold(max(GC_THRESHOLD, first), older, oldest)
