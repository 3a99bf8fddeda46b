"""One BLAS / OpenMP thread per process (or ``n``): the one place threads are pinned.

Under pytest-xdist every worker is its own process, and two workers each spawning a thread
per core oversubscribe a 2-core machine many times over; the benchmark compares both sides
at the same thread count. The environment variables reach thread pools created after this
call (import numpy / torch after it where you can); threadpoolctl limits the BLAS and
OpenMP pools already loaded; torch's intra-op pool is set directly.
"""

from __future__ import annotations

import os
import sys

_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def pin_threads(n: int = 1, *, override: bool = False) -> None:
    """Pin BLAS, OpenMP and torch to ``n`` threads. Without ``override`` an explicit
    environment setting (``OMP_NUM_THREADS=4 pytest``) wins over the default."""
    for var in _VARS:
        if override:
            os.environ[var] = str(n)
        else:
            os.environ.setdefault(var, str(n))
    n = int(os.environ["OMP_NUM_THREADS"])
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
