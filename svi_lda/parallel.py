"""Run nogil Numba kernels over disjoint index ranges on a few Python threads.

The kernels release the GIL, so plain threads scale across cores; each range writes only
its own slice of the outputs, so there are no races and the results do not depend on the
number of threads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(n_threads: int) -> ThreadPoolExecutor:
    pool = _POOLS.get(n_threads)
    if pool is None:
        pool = _POOLS[n_threads] = ThreadPoolExecutor(n_threads, thread_name_prefix="svi-lda")
    return pool


def parallel_ranges(
    func: Callable[[int, int], object], bounds: np.ndarray, n_threads: int
) -> None:
    """Call ``func(bounds[i], bounds[i + 1])`` for every range, on up to ``n_threads``."""
    ranges = [
        (int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True) if hi > lo
    ]
    if n_threads <= 1 or len(ranges) <= 1:
        for lo, hi in ranges:
            func(lo, hi)
        return
    # list() re-raises the first exception a range hit.
    list(_pool(n_threads).map(lambda r: func(*r), ranges))


def split_by_weight(weights_cumsum: np.ndarray, n_parts: int) -> np.ndarray:
    """Boundaries splitting ``len(weights_cumsum) - 1`` items into parts of similar weight."""
    n_items = len(weights_cumsum) - 1
    targets = np.linspace(0.0, float(weights_cumsum[-1]), n_parts + 1)
    bounds = np.searchsorted(weights_cumsum, targets, side="left").clip(0, n_items)
    bounds[0], bounds[-1] = 0, n_items
    return np.unique(bounds)
