"""Which words each shard owns, and how a minibatch's words split over the shards.

Shard ``s`` owns the contiguous word ids ``bounds[s]:bounds[s + 1]`` (its rows of W,
the word-major K x V parameters). A minibatch's sorted word list (the union of its
units' words) then splits into one contiguous segment per shard, in shard order, so
concatenating the shards' pieces in shard order gives the in-process arrays exactly.
"""

from __future__ import annotations

import numpy as np


def shard_bounds(n_features: int, n_shards: int) -> np.ndarray:
    """Word-id bounds of ``n_shards`` near-equal contiguous shards, shape (n_shards + 1,).

    Raises ``ValueError`` when there are more shards than words.
    """
    if n_shards < 1 or n_shards > max(n_features, 1):
        raise ValueError(
            f"cannot split a vocabulary of {n_features} words into {n_shards} shards"
        )
    return np.linspace(0, n_features, n_shards + 1).round().astype(np.int64)


def segments(union: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Positions in the sorted ``union`` where each shard's words start and stop.

    Returns ``cuts`` of shape (n_shards + 1,): shard ``s``'s words are
    ``union[cuts[s]:cuts[s + 1]]``.
    """
    return np.searchsorted(union, bounds).astype(np.int64)


def assign_shards(n_shards: int, workers: list[str]) -> list[str]:
    """The worker owning each shard: round robin over the sorted workers."""
    if not workers:
        raise RuntimeError("no Dask workers to hold the shards")
    ordered = sorted(workers)
    return [ordered[s % len(ordered)] for s in range(n_shards)]
