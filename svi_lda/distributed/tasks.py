"""Worker-side task functions: pure, importable, and free of Dask imports.

A Dask worker runs three tasks per unit (one Parquet row group) and step:

1. :func:`load_unit` reads the row group and finds its vocabulary. Its result stays in the
   worker's memory (the Dask engine keeps it in :mod:`svi_lda.distributed.unit_cache`,
   the sharded engine as a task result); the coordinator never sees the documents.
2. :func:`union_word_ids` unites the units' sorted word ids along the step's fixed
   tree, so the coordinator receives one small array, the minibatch's words, for which it
   computes the rows of exp(E[log beta]) (:func:`unit_word_ids`: one unit's).
3. :func:`local_step_task` runs the learning method's local step (for SVI the Numba
   E-step, :func:`estep_task`) on the unit with the rows it was sent (``K x words of the
   unit``; never ``K x V``) and returns the unit's statistics for its own words only.
   :func:`union_local_step_task` is the same from the rows of the minibatch's whole
   union of words, copied to every worker the step uses (:mod:`svi_lda.distributed.rows`).
4. :func:`svi_lda.step.merge_pair` sums two nodes of the step's reduction tree, so the
   coordinator receives one merged result per step.

Every function is a pure function of its arguments, so Dask may re-run any of them on
any worker (after a worker dies, or when stealing work) without changing the result.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np

from svi_lda.batch import Batch
from svi_lda.methods import get_method
from svi_lda.seeding import SeedDocuments, seed_candidates
from svi_lda.step import EStepSettings, UnitStats, estep_unit, unit_vocabulary


@dataclass(frozen=True)
class PreparedUnit:
    """A row group read on a worker, with its vocabulary (kept on the worker).

    Attributes
    ----------
    key : str
        The unit's key (``file#row_group``), for error messages.
    batch : Batch
        The documents.
    word_ids : ndarray of int64, shape (n,)
        Sorted unique word ids of the unit.
    word_index : ndarray of int64, shape (nnz,)
        Row of ``word_ids`` for each non-zero of ``batch``.
    """

    key: str
    batch: Batch
    word_ids: np.ndarray
    word_index: np.ndarray


def load_unit(corpus_path: str, unit: object, n_features: int) -> PreparedUnit:
    """Read one unit (a :class:`~svi_lda.corpus.CorpusUnit`) and find its vocabulary.

    Raises :class:`~svi_lda.corpus.CorpusError` naming the file and row group if the row
    group is missing or corrupt.
    """
    from svi_lda.corpus import read_unit

    batch = read_unit(corpus_path, unit, n_features=n_features)  # type: ignore[arg-type]
    word_ids, word_index = unit_vocabulary(batch)
    return PreparedUnit(unit.key, batch, word_ids, word_index)  # type: ignore[attr-defined]


def unit_word_ids(prepared: PreparedUnit) -> np.ndarray:
    """The unit's sorted word ids, as int32 when they fit (half the bytes on the wire)."""
    return _narrow(prepared.word_ids)


def union_word_ids(
    left: PreparedUnit | np.ndarray, right: PreparedUnit | np.ndarray
) -> np.ndarray:
    """One node of the tree that unites a minibatch's words on the workers: the sorted
    distinct word ids of two units (or of two nodes below), as int32 when they fit."""
    ids = [x.word_ids if isinstance(x, PreparedUnit) else x for x in (left, right)]
    return _narrow(np.union1d(*ids))


def _narrow(ids: np.ndarray) -> np.ndarray:
    if ids.size and int(ids[-1]) < 2**31:
        return ids.astype(np.int32, copy=False)
    return ids


def estep_task(
    prepared: PreparedUnit,
    exp_elog_beta: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    settings: EStepSettings,
    n_threads: int = 1,
    word_rows: np.ndarray | None = None,
) -> UnitStats:
    """E-step of one unit against the rows of exp(E[log beta]) for its words.

    ``exp_elog_beta`` has shape (len(prepared.word_ids), K), in the order of
    ``prepared.word_ids``; or, with ``word_rows``, it holds the rows of all the words of
    this worker's units in the step, and ``word_rows[j]`` is the row of
    ``prepared.word_ids[j]``. Returns statistics for the unit's words only.
    """
    stats, _ = estep_unit(
        prepared.batch,
        prepared.word_index,
        prepared.word_ids,
        exp_elog_beta,
        log_shift,
        alpha,
        settings,
        n_threads=n_threads,
        word_rows=word_rows,
    )
    return stats


def local_step_task(
    method_name: str,
    prepared: PreparedUnit,
    rows: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    settings: object,
    n_threads: int = 1,
    word_rows: np.ndarray | None = None,
) -> UnitStats:
    """The local step of the method registered as ``method_name`` on one unit, as
    :func:`estep_task` is SVI's (same arguments; the method is looked up on the worker)."""
    stats, _ = get_method(method_name).local_step(
        prepared.batch,
        prepared.word_index,
        prepared.word_ids,
        rows,
        log_shift,
        alpha,
        settings,
        n_threads=n_threads,
        word_rows=word_rows,
    )
    return stats


def rows_block(
    rows: np.ndarray, log_shift: np.ndarray, word_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A step's parameter rows with their word ids, held on a worker as a task's
    result (a task that Dask can re-run elsewhere if its worker dies, unlike scattered
    data)."""
    return rows, log_shift, word_ids


def value(x: object) -> object:
    """``x`` itself: a constant that a step's tasks share (sent once, in the graph)."""
    return x


def union_local_step_task(
    method_name: str,
    prepared: PreparedUnit,
    block: tuple[np.ndarray, np.ndarray, np.ndarray],
    alpha: np.ndarray,
    settings: object,
    n_threads: int = 1,
) -> UnitStats:
    """:func:`local_step_task` on the rows of the whole minibatch's union of words.

    ``block`` is ``(rows, log_shift, word_ids)`` for the union (sorted word ids), the
    copy on this worker (:mod:`svi_lda.distributed.rows`). The unit finds its words' rows
    in it, so nothing per word is sent per unit; the kernel reads the same values as from
    the unit's own rows, so the statistics are bitwise the same.
    """
    rows, shift, ids = block
    word_rows = np.searchsorted(ids, prepared.word_ids)
    return local_step_task(
        method_name, prepared, rows, shift, alpha, settings, n_threads, word_rows
    )


def seed_candidates_task(prepared: PreparedUnit, seed: int, n_pick: int) -> SeedDocuments:
    """The unit's candidate documents for seeding the topics (see :mod:`svi_lda.seeding`)."""
    return seed_candidates(prepared.batch, seed, n_pick)


def warm_up(n_components: int = 4) -> float:
    """Compile (or load from Numba's on-disk cache) the E-step kernels; return seconds.

    Runs a tiny E-step with writable and with read-only inputs: arrays that arrive
    through Dask's serialisation or from Arrow buffers are read-only, and Numba compiles a
    separate specialisation for them.
    """
    started = time.perf_counter()
    indptr = np.array([0, 2, 3], dtype=np.int32)
    indices = np.array([0, 2, 1], dtype=np.int32)
    counts = np.array([1, 2, 1], dtype=np.int32)
    batch = Batch(indptr, indices, counts, np.arange(2, dtype=np.int64), 3)
    word_ids, word_index = unit_vocabulary(batch)
    alpha = np.full(n_components, 1.0 / n_components)
    for dtype in (np.float64, np.float32):
        rows = np.linspace(0.5, 1.0, 3 * n_components).reshape(3, n_components).astype(dtype)
        shift = np.zeros(3)
        for writable in (True, False):
            r, s = rows.copy(), shift.copy()
            r.setflags(write=writable)
            s.setflags(write=writable)
            estep_unit(batch, word_index, word_ids, r, s, alpha, EStepSettings())
    return time.perf_counter() - started


def worker_threads_info() -> dict[str, object]:
    """What a worker process sees: its pid, cores and Numba's thread settings."""
    import numba

    return {
        "pid": os.getpid(),
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numba_num_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threads_in_use": numba.get_num_threads(),
        "numba_cache_dir": numba.config.CACHE_DIR or None,
    }
