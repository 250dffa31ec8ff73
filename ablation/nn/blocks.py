"""Row blocks of a large batch, the buffers each block needs, and the threads that run them.

A large batch runs in row blocks of at most ``BLOCK_ROWS`` (see :func:`blocks`); blocks
are summed in ``GROUPS`` fixed groups (:func:`groups`), so the arithmetic does not depend
on how many threads run them. A :class:`BlockRunner` deals the groups to its lanes; each
lane (a thread) owns its buffers (:class:`Lane`), cached per block size.
"""

from __future__ import annotations

import contextvars
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

MAX_CACHED_BATCH_SIZES = 6
BLOCK_ROWS = 2048  # rows per block of a large batch: see blocks()
GROUPS = 4  # blocks are summed in this many fixed groups, whatever the thread count


class Workspace:
    """Buffers for one batch size: layer outputs, and (lazily) back-propagated errors."""

    def __init__(self, n: int, widths: list[int], dtype: np.dtype):
        self.rows = np.arange(n)
        self.ones = np.ones(n, dtype=dtype)  # bias gradients as ones @ delta (BLAS, threaded)
        self.outs = [np.empty((n, w), dtype=dtype) for w in widths]
        self.deltas: list[np.ndarray] | None = None  # deltas[l] has the shape of outs[l]

    def ensure_deltas(self) -> list[np.ndarray]:
        if self.deltas is None:
            self.deltas = [np.empty_like(out) for out in self.outs[:-1]]
        return self.deltas


class Lane:
    """What one thread owns: workspaces per block size, and a block-gradient buffer."""

    def __init__(self):
        self.cache: OrderedDict[int, Workspace] = OrderedDict()
        self.block_grads: list[tuple[np.ndarray, np.ndarray]] | None = None

    def workspace(self, n: int, widths: list[int], dtype: np.dtype) -> Workspace:
        ws = self.cache.get(n)
        if ws is None:
            ws = Workspace(n, widths, dtype)
            self.cache[n] = ws
            if len(self.cache) > MAX_CACHED_BATCH_SIZES:
                self.cache.popitem(last=False)
        else:
            self.cache.move_to_end(n)
        return ws


class BlockRunner:
    """Runs work on groups of blocks, on the calling thread (lane 0) and a thread pool."""

    def __init__(self):
        self.lanes = [Lane()]  # lane 0 is the calling thread's
        self._pool: ThreadPoolExecutor | None = None  # lanes 1.. (lane 0 is the caller)
        self._pool_size = 0

    def by_groups(self, groups: list[list[slice]], work, threads: int) -> list:
        """Run ``work(lane, g, blocks)`` for each group of :func:`groups`; results by group.

        Groups are dealt to ``min(threads, groups)`` lanes. The caller combines
        the results in group order, so the arithmetic does not depend on the
        thread count.
        """
        n_lanes = min(threads, len(groups))
        while len(self.lanes) < n_lanes:
            self.lanes.append(Lane())

        def run(k: int) -> list[tuple[int, object]]:
            lane = self.lanes[k]
            return [(g, work(lane, g, groups[g])) for g in range(k, len(groups), n_lanes)]

        if n_lanes == 1:
            done = run(0)
        else:
            if self._pool is None or self._pool_size < n_lanes - 1:
                if self._pool is not None:
                    self._pool.shutdown()
                self._pool = ThreadPoolExecutor(n_lanes - 1, thread_name_prefix="ablation-mlp")
                self._pool_size = n_lanes - 1
            # each lane runs in a copy of this context: numpy's errstate is a context variable
            futures = [
                self._pool.submit(contextvars.copy_context().run, run, k) for k in range(1, n_lanes)
            ]
            try:
                done = run(0)  # the calling thread is lane 0
            finally:  # even if lane 0 failed: no lane may outlive this call
                wait(futures)
            for future in futures:
                done += future.result()
        return [result for _, result in sorted(done, key=lambda item: item[0])]


def blocks(n: int, block_rows: int = BLOCK_ROWS) -> list[slice]:
    """Split ``n`` rows into near-equal blocks of at most ``block_rows`` rows.

    More than one block: their count is rounded up to a multiple of ``GROUPS``, so
    every group, and every lane of 1, 2 or 4 threads, gets the same number of
    blocks (sizes differ by at most one row). A full batch of 60,000 rows runs as
    32 blocks of 1,875, 42,000 rows as 24 of 1,750 (21 blocks of 2,000 left one
    of two threads idle for a block per step: 11 against 10). Each block's
    activations (1875x200 float32 = 1.5 MB) stay in cache from the GEMM that
    writes them to the elementwise passes that read them, instead of streaming
    48 MB arrays through memory several times per step.
    """
    k = -(-n // block_rows)
    if k > 1:
        k = -(-k // GROUPS) * GROUPS
    k = min(k, n) or 1
    size, extra = divmod(n, k)
    bounds = [0]
    for i in range(k):
        bounds.append(bounds[-1] + size + (i < extra))
    return [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def groups(n: int, block_rows: int = BLOCK_ROWS) -> list[list[slice]]:
    """The row blocks of ``n`` rows in fixed groups: block ``i`` belongs to group ``i % GROUPS``."""
    all_blocks = blocks(n, block_rows)
    return [all_blocks[g::GROUPS] for g in range(min(GROUPS, len(all_blocks)))]


def add_grads(total, part) -> None:
    for (dW, db), (pW, pb) in zip(total, part, strict=True):
        dW += pW
        db += pb
