"""Units read once per step on a worker, kept in the worker's memory by the worker itself.

The Dask engine reads each unit (row group) of a minibatch on a worker for the union of
the step's words, and runs the unit's local step later, from the rows computed for that
union. Held as a Dask result, the read would need a future on the coordinator per unit
(created, reported in memory, released: coordinator work that grows with the workers).
Instead the read task keeps the unit in this module's cache, in the worker process, and
returns only its word ids; the local step takes the unit from the cache.

The cache is bounded (least recently used entries go first past ``CACHE_BYTES``) and keyed
by the run (the engine's token, so a run never sees another run's reads of the same
path) and the unit. A miss reads the unit again, so a local step that Dask runs on
another worker (stealing, a dead worker) or again (a retry) gets the same documents and
the same result: the cache saves time, never decides a result.

Task functions whose results depend only on their arguments (the cache is module
state of the worker process, which changes only how often a unit is read); no Dask
imports here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from svi_lda.corpus import CorpusUnit
from svi_lda.distributed.tasks import (
    PreparedUnit,
    load_unit,
    union_local_step_task,
    unit_word_ids,
)
from svi_lda.seeding import SeedDocuments, seed_candidates
from svi_lda.step import UnitStats

# Per worker process. A unit of 1,024 documents of ~100 words is ~1-2 MB; a worker holds
# the units of the steps in flight (the current one and those read ahead).
CACHE_BYTES = 512 * 2**20

_cache: OrderedDict[tuple[str, int, str], PreparedUnit] = OrderedDict()
_cache_bytes = 0
_lock = threading.Lock()  # a worker may run several tasks at once


@dataclass(frozen=True)
class UnitSource:
    """Where a task finds a unit: the run, the corpus and the row group.

    Attributes
    ----------
    run : str
        The engine's token: entries are shared only within one run.
    corpus_path : str
        The corpus folder (path or URL), as the workers see it.
    unit : CorpusUnit
        The row group.
    n_features : int
        The corpus's vocabulary size.
    epoch : int
        The pass the read is for: a unit is read once per pass, and with few
        minibatches a pass the next pass's read of a unit comes before this pass's
        local step has taken it.
    """

    run: str
    corpus_path: str
    unit: CorpusUnit
    n_features: int
    epoch: int = 0

    @property
    def cache_key(self) -> tuple[str, int, str]:
        """The run, the pass and the unit's key."""
        return self.run, self.epoch, self.unit.key


def read_unit_ids(source: UnitSource) -> np.ndarray:
    """Read the unit, keep it in this worker's cache, return its sorted word ids."""
    prepared = load_unit(source.corpus_path, source.unit, source.n_features)
    _put(source.cache_key, prepared)
    return unit_word_ids(prepared)


def cached_local_step(
    method_name: str,
    source: UnitSource,
    block: tuple[np.ndarray, np.ndarray, np.ndarray],
    alpha: np.ndarray,
    settings: object,
    n_threads: int = 1,
) -> UnitStats:
    """:func:`~svi_lda.distributed.tasks.union_local_step_task` on the unit taken out of
    this worker's cache (read again if it is not there: same documents, same result)."""
    prepared = _take(source.cache_key)
    if prepared is None:
        prepared = load_unit(source.corpus_path, source.unit, source.n_features)
    return union_local_step_task(method_name, prepared, block, alpha, settings, n_threads)


def cached_seed_candidates(source: UnitSource, seed: int, n_pick: int) -> SeedDocuments:
    """The unit's candidate documents for seeding the topics (the unit stays cached)."""
    with _lock:
        prepared = _cache.get(source.cache_key)
    if prepared is None:
        prepared = load_unit(source.corpus_path, source.unit, source.n_features)
        _put(source.cache_key, prepared)
    return seed_candidates(prepared.batch, seed, n_pick)


def drop_run(run: str) -> int:
    """Forget the units of ``run`` (the run is over); return how many were held."""
    global _cache_bytes
    with _lock:
        keys = [k for k in _cache if k[0] == run]
        for k in keys:
            _cache_bytes -= _nbytes(_cache.pop(k))
    return len(keys)


def cached_units() -> int:
    """How many units this worker holds (all runs)."""
    with _lock:
        return len(_cache)


# Passes of a run that may still have local steps to come while a later pass is read:
# the engine reads up to READ_AHEAD (2) minibatches ahead, which with one minibatch a pass
# is two passes ahead. An entry of an older pass was read for a local step that ran on
# another worker (a stolen read, a moved unit): nothing will take it.
PASSES_IN_FLIGHT = 3


def _put(key: tuple[str, int, str], prepared: PreparedUnit) -> None:
    global _cache_bytes
    run, epoch, _ = key
    with _lock:
        old = _cache.pop(key, None)
        if old is not None:
            _cache_bytes -= _nbytes(old)
        stale = [k for k in _cache if k[0] == run and k[1] < epoch - PASSES_IN_FLIGHT]
        for k in stale:
            _cache_bytes -= _nbytes(_cache.pop(k))
        _cache[key] = prepared
        _cache_bytes += _nbytes(prepared)
        while _cache_bytes > CACHE_BYTES and len(_cache) > 1:
            _, evicted = _cache.popitem(last=False)
            _cache_bytes -= _nbytes(evicted)


def _take(key: tuple[str, int, str]) -> PreparedUnit | None:
    # A unit's local step runs once per epoch: its entry is done with after it.
    global _cache_bytes
    with _lock:
        prepared = _cache.pop(key, None)
        if prepared is not None:
            _cache_bytes -= _nbytes(prepared)
    return prepared


def _nbytes(prepared: PreparedUnit) -> int:
    b = prepared.batch
    arrays = (b.indptr, b.indices, b.counts, b.doc_ids, prepared.word_ids,
              prepared.word_index)
    return sum(a.nbytes for a in arrays)
