"""Pin a benchmark to N cores (``--cores N``, default 2) before any numeric library loads.

Import this first in a benchmark script: numpy, numba and torch read these variables once, at
import time, so figures measured "on 2 cores" really use two.
"""

from __future__ import annotations

import os


def pin_threads(argv: list[str]) -> tuple[int, list[int] | None]:
    """Pin CPUs and thread pools before numpy/numba/torch load (they read these at import)."""
    cores = 2
    for i, arg in enumerate(argv):
        if arg == "--cores" and i + 1 < len(argv) and argv[i + 1].isdigit():
            cores = max(1, int(argv[i + 1]))
        elif arg.startswith("--cores=") and arg[8:].isdigit():
            cores = max(1, int(arg[8:]))
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(cores)
    affinity = None
    if hasattr(os, "sched_setaffinity"):
        allowed = sorted(os.sched_getaffinity(0))
        affinity = allowed[:cores]
        os.sched_setaffinity(0, affinity)
    return cores, affinity
