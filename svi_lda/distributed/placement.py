"""Where a step's E-steps run, and the union of its units' words.

Pure functions of the units' owners and words, so the choices are deterministic; the
statistics are merged along a tree fixed by the units whatever they are, so they never
change a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from svi_lda.numerics.remap import compact_vocabulary


def balance_units(
    owners: Sequence[str | None],
    workers: Sequence[str],
    weights: Sequence[int],
    backlog: Mapping[str, int] | None = None,
) -> list[str | None]:
    """Where each unit's E-step runs: on the worker holding its data, unless that worker
    already has a unit's weight more work than the least loaded one.

    Keeps transfers of documents between workers to the fewest that balance the step
    (the step lasts as long as its busiest worker). ``backlog``: work (same measure as
    ``weights``) each worker still has queued from earlier steps, counted as its load
    to start with; pipelined mode passes it so that a worker running behind gets less of
    the next step. Units are taken in order, so the choice is deterministic; the
    statistics are merged along a tree fixed by the units whatever it is.
    """
    if not workers:
        return [None] * len(owners)
    load = {w: (backlog or {}).get(w, 0) for w in workers}
    chosen: list[str | None] = []
    for owner, weight in zip(owners, weights, strict=True):
        lightest = min(workers, key=lambda w: load[w])
        worker = owner if owner in load and load[owner] < load[lightest] + weight else lightest
        load[worker] += weight
        chosen.append(worker)
    return chosen


def union_of(
    arrays: Sequence[np.ndarray], bound: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Sorted distinct values of ``arrays`` (ints in ``[0, bound)``) and, for each array,
    the position of each of its values among them.

    Equivalent to: ``u = np.unique(np.concatenate(arrays))`` and
    ``[np.searchsorted(u, a) for a in arrays]``, in O(total length) plus a sort of the
    distinct values (:func:`~svi_lda.numerics.remap.compact_vocabulary`): the coordinator
    does this every step, while its workers compute.
    """
    if not arrays:
        return np.zeros(0, dtype=np.int64), []
    values = np.concatenate([np.asarray(a, dtype=np.int64) for a in arrays])
    union, where = compact_vocabulary(values, bound)
    cuts = np.cumsum([len(a) for a in arrays])[:-1]
    return union, np.split(where, cuts)
