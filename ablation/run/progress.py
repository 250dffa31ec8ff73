"""A sweep's progress as its jobs see it: what varies (for run names), how many cells of
each cost kind are to run, on how many workers, and the time left from the cells done.

The sweep callback writes these into every job's ``hydra.job.env_set`` (so they reach a job
on any launcher); :func:`eta_seconds` re-estimates the time left from the durations of the
cells finished in this sweep, so it corrects itself as the sweep goes.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping

from ablation.config.keys import COST_KEYS

VARIES_ENV = "ABLATION_SWEEP_VARIES"
KINDS_ENV = "ABLATION_SWEEP_KINDS"
WORKERS_ENV = "ABLATION_SWEEP_WORKERS"

#: Params that set what a cell costs (``Meaning.cost`` in ablation.config.keys).
KIND_KEYS = COST_KEYS


def cost_kind(params: Mapping) -> str:
    """``gd/mnist/60000/2/300/None``: params as logged (strings) or as typed give the same."""
    return "/".join(str(params.get(k)) for k in KIND_KEYS)


def encode_kinds(kinds: Iterable[str]) -> str:
    """``kind*count;kind*count`` for the cells to run (an env_set value)."""
    return ";".join(f"{k}*{n}" for k, n in Counter(kinds).items())


def decode_kinds(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in (text or "").split(";"):
        kind, _, count = part.rpartition("*")
        if kind and count.isdigit():
            out[kind] = int(count)
    return out


def _number(text: str | None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _work(kind: str) -> float | None:
    """A cost kind's relative work: training images x passes over them (a minibatch epoch
    costs about 1.6 full-batch steps, benchmarks/README.md); None when the kind does not say.
    Training sets of unstated size count as MNIST's 60,000."""
    fields = dict(zip(KIND_KEYS, kind.split("/"), strict=False))
    epochs = _number(fields.get("optim.epochs"))
    passes = _number(fields.get("optim.iterations")) or (1.6 * epochs if epochs else None)
    if passes is None:
        return None
    return (_number(fields.get("data.n_train")) or 60000.0) * passes


def _scaled(kind: str, by_kind: Mapping[str, list[float]]) -> float | None:
    """A kind no cell of has finished, from the finished kinds scaled by their work (those
    of the same optimiser when there are any); None when the work is unknown."""
    work = _work(kind)
    known = {k: w for k in by_kind if (w := _work(k))}
    if work is None or not known:
        return None
    same = [k for k in known if k.split("/")[0] == kind.split("/")[0]]
    return statistics.median(
        statistics.median(by_kind[k]) * work / known[k] for k in (same or list(known))
    )


def eta_seconds(
    finished: Iterable[tuple[str, float]], remaining: Mapping[str, int], workers: int
) -> float | None:
    """Time left: per remaining cell, the median duration of the finished cells of its
    kind (when none of its kind finished yet, finished kinds scaled by their work, e.g. 300
    steps as 300/56 of 56 steps; else the median of all finished cells), summed and shared
    over ``workers``; never less than the longest single remaining cell. None before any
    cell finished. ``finished``: (kind, seconds) of cells finished in this sweep;
    ``remaining``: kind -> cells still to end."""
    by_kind: dict[str, list[float]] = {}
    for kind, seconds in finished:
        by_kind.setdefault(kind, []).append(seconds)
    if not by_kind:
        return None
    overall = statistics.median(s for v in by_kind.values() for s in v)
    medians = {
        kind: statistics.median(by_kind[kind])
        if kind in by_kind
        else (_scaled(kind, by_kind) or overall)
        for kind, n in remaining.items()
        if n > 0
    }
    count = sum(n for n in remaining.values() if n > 0)
    if count == 0:
        return 0.0
    total = sum(medians[k] * remaining[k] for k in medians)
    return max(total / max(1, min(workers, count)), max(medians.values()))
