"""Independent recurrences side by side, on the threads BLAS is allowed to use.

Within one layer the directions and the batch rows are independent recurrences: row b's
state at step t depends on row b's state at t-1 only, and the reverse direction never reads
the forward one. So a layer's forward and backward split into *units* (direction, block of
rows) that need no synchronisation between time steps: each unit runs the whole time loop,
forward or backward, over its own rows. Only the weight gradients mix rows; each unit
computes its rows' share (the same sum over (t, b) rows, grouped by block) and the driver
adds the shares.

Why. With N BLAS threads a serial time loop gets N cores inside its GEMMs only; the
elementwise gate math (for an LSTM or GRU, most of what is not a GEMM) runs on one core.
Units in N threads, each with single-threaded BLAS, put both on all N cores. NumPy releases
the GIL inside BLAS calls and inside ufunc loops over more than a few hundred values, so
units overlap; but every NumPy call also holds the GIL for about a microsecond of Python,
so a unit must carry enough values per step for the released part to dominate:
``MIN_VALUES`` gate values per step (rows x gate width: 4H for an LSTM, 3H for a GRU, H for
the Elman RNN). Below it the driver stays serial (measured on 2 cores: an LSTM unit of
32 rows x 512 gates, 16384 values, runs its steps 1.8x faster side by side; an Elman unit of
32 x 128 = 4096 values gains nothing, its steps are mostly Python).

How many threads: BLAS's own count, as threadpoolctl reads it (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS`` or a ``threadpool_limits`` in force), so ``OMP_NUM_THREADS=1``
keeps scratch serial, exactly as it was. Without threadpoolctl, serial. ``configured``
overrides both the count and ``MIN_VALUES`` (the tests force the parallel path with it).

Nothing here changes the arithmetic of a unit: a row block runs the same equations on
fewer rows. The results differ from the serial run only by how the weight-gradient sums are
grouped (rounding; ``parity_tests/tests/test_scratch_parallel.py`` checks that with the
suite's tolerance rule and checks both against torch).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

__all__ = ["MIN_VALUES", "available_threads", "plan", "run", "configured"]

MIN_VALUES = 8192

_override: tuple | None = None  # (threads, min_values) while ``configured`` is in force
_lock = threading.Lock()  # one parallel region at a time (the BLAS limit is process-wide)
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_controller = None  # threadpoolctl.ThreadpoolController over BLAS, made on first use


def _blas():
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # no thread control: stay serial
            _controller = False
        else:
            _controller = ThreadpoolController().select(user_api="blas")
    return _controller or None


def available_threads() -> int:
    """The threads scratch may use: BLAS's current count (1 without threadpoolctl)."""
    if _override is not None:
        return _override[0]
    blas = _blas()
    counts = [lib.num_threads for lib in blas.lib_controllers] if blas is not None else []
    return max(1, min(counts)) if counts else 1


@contextmanager
def configured(*, threads: int, min_values: int = MIN_VALUES):
    """Within the block, scratch uses ``threads`` threads and splits down to ``min_values``
    gate values per unit and step (``min_values=1``: split whenever there are threads)."""
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected a positive int, got {threads!r}")
    if not isinstance(min_values, int) or min_values < 1:
        raise ValueError(f"min_values: expected a positive int, got {min_values!r}")
    global _override
    saved, _override = _override, (threads, min_values)
    try:
        yield
    finally:
        _override = saved


def plan(batch: int, directions: int, width: int) -> tuple[list[slice], bool]:
    """How one layer splits: (row blocks per direction, whether units run in threads).

    Each direction is split into ``n`` equal contiguous row blocks, ``n`` as large as the
    threads allow (threads // directions) and every unit still carries ``min_values`` gate
    values per step (``width`` = gate values per row: 4H, 3H or H). Parallel when there
    are at least two units and two threads; otherwise one block of all rows, serial.
    """
    threads = available_threads()
    min_values = _override[1] if _override is not None else MIN_VALUES
    n = max(1, min(threads // directions, batch))
    while n > 1 and (batch // n) * width < min_values:  # the smallest block must carry min_values
        n -= 1
    parallel = threads > 1 and directions * n > 1 and (batch // n) * width >= min_values
    if not parallel:
        return [slice(None)], False
    if n == 1:  # directions side by side, each over all rows
        return [slice(None)], True
    edges = [batch * k // n for k in range(n + 1)]
    return [slice(lo, hi) for lo, hi in zip(edges, edges[1:])], True


def run(jobs: list, parallel: bool) -> list:
    """Call each job (no arguments) and return their results in order: in threads, each
    with single-threaded BLAS, when ``parallel``; else one after another."""
    if not parallel or len(jobs) < 2 or not _lock.acquire(blocking=False):
        return [job() for job in jobs]  # (the lock taken: another thread is in a parallel region)
    try:
        pool = _executor(min(len(jobs), available_threads()))
        blas = _blas()
        if blas is None:
            return list(pool.map(_call, jobs))
        with blas.limit(limits=1):  # N units x 1 BLAS thread, not N x N
            return list(pool.map(_call, jobs))
    finally:
        _lock.release()


def _call(job):
    return job()


def _forget_pool_in_child() -> None:
    """After a fork the child has the pool object but none of its threads (and maybe a lock
    some parent thread held): a job given to it would wait forever. Start afresh."""
    global _pool, _pool_size, _lock
    _pool, _pool_size, _lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size != size:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool, _pool_size = ThreadPoolExecutor(max_workers=size, thread_name_prefix="scratch-unit"), size
    return _pool
