"""Chunks coded on several threads: the pool, its size, and how code inside it knows.

Chunks of a container are independent once a codec's knob is fixed, and the heavy parts of
``predictive`` and ``quant`` (numba kernels, the C prediction loops, the rANS coder) release
the GIL, so a long encode or decode runs one chunk per core. Kernels that are themselves
parallel (numba ``prange``) ask :func:`in_chunk_worker` and run serially inside a worker, so a
pool of N threads keeps N cores busy instead of nesting thread pools.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["MAX_CHUNK_WORKERS", "chunk_workers", "in_chunk_worker", "ordered_map"]

MAX_CHUNK_WORKERS = 4
T = TypeVar("T")
R = TypeVar("R")

_local = threading.local()


def chunk_workers() -> int:
    """Threads a parallel encode or decode uses: the CPUs this process may run on, at most
    :data:`MAX_CHUNK_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_CHUNK_WORKERS, cpus))


def in_chunk_worker() -> bool:
    """Whether this thread is one of :func:`ordered_map`'s workers (parallel kernels should
    then run on this thread alone)."""
    return bool(getattr(_local, "worker", False))


def _mark_worker() -> None:
    _local.worker = True


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``fn`` over ``items`` on ``workers`` threads, results in order, at most ``workers + 1``
    started and not yet taken (so memory stays bounded on a long stream). ``items`` is
    consumed on the calling thread (reads and checksums stay there)."""
    with ThreadPoolExecutor(workers, "rc-chunk", initializer=_mark_worker) as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for f in pending:
                f.cancel()
