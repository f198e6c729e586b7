"""Worker-side tasks of sharded training: each worker holds its shards' rows of W.

A shard is mutable state in a worker process (:data:`_SHARDS`, keyed by the run's token
and the shard number), so every task here runs on the shard's owner (the engine pins it
there). Each shard counts the updates it has applied (``step``): an update for another
step than the next is refused, and a repeated one returns its first result, so a task
that Dask runs twice changes nothing.

The arithmetic is the in-process one, word by word: rows of exp(E[log beta]) from
:func:`svi_lda.state._exp_elog_beta_rows`, the update from :func:`svi_lda.state._lazy_add`
over the same chunks of the minibatch's word list, and every sum the in-process update
makes across words (the per-chunk topic sums, the column sums of the statistics, the
column sums of W after a rescale) is continued from shard to shard in word order
(``carry``), so the coordinator gets bitwise the in-process K-sized totals. The update
itself runs on every shard at once (:func:`shard_update`); only what crosses shard
boundaries is continued after it (:func:`shard_fold`: no W, O(K) per word).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from svi_lda.distributed.sharded import part_io
from svi_lda.methods import get_method
from svi_lda.numerics.merge import merge_sorted_rows
from svi_lda.numerics.scatter import add_rows
from svi_lda.state import _UPDATE_CHUNK, _exp_elog_beta_rows, _lazy_add
from svi_lda.step import UnitStats, reduction_tree

CHUNK = _UPDATE_CHUNK
# Values drawn at a time when a shard starts (float64: 32 MiB).
INIT_BLOCK_VALUES = 2**22


@dataclass
class Shard:
    """Rows ``lo:hi`` of W on this worker, after ``step`` updates."""

    lo: int
    hi: int
    word_topic: np.ndarray
    step: int
    last: tuple[int, dict[str, Any]] | None = None
    # step, merged statistics, head length, first index, union size, coef, open tail:
    # what shard_fold needs of the last update
    pending: tuple[Any, ...] | None = None
    folded: tuple[int, dict[str, Any]] | None = None


_SHARDS: dict[tuple[str, int], Shard] = {}


def _get(token: str, shard: int) -> Shard:
    try:
        return _SHARDS[(token, shard)]
    except KeyError:
        raise RuntimeError(
            f"shard {shard} of run {token} is not held by worker process {os.getpid()}"
        ) from None


@njit(nogil=True, cache=True)
def _accumulate_rows(values, out):
    # Sequential over rows, as NumPy's sum(axis=0) of a C-ordered block and
    # svi_lda.numerics.scatter.column_sums add them.
    for i in range(values.shape[0]):
        row = values[i]
        for k in range(out.shape[0]):
            out[k] += row[k]


def init_shard(
    token: str, shard: int, lo: int, hi: int, n_components: int, eta: float, seed: int,
    dtype: str,
) -> int:
    """Draw rows ``lo:hi`` of :meth:`GlobalState.initialize`'s start (same seed, same
    values: the generator is advanced to the shard's first draw). Returns its bytes."""
    generator = np.random.PCG64(np.random.SeedSequence(seed))
    generator.advance(lo * n_components)
    rng = np.random.Generator(generator)
    half_width = math.sqrt(3.0) * 0.1
    word_topic = np.empty((hi - lo, n_components), dtype=dtype)
    # In blocks of rows (the stream is sequential, so the values are the same): the
    # float64 draw never needs the whole shard's size twice over.
    block = max(1, INIT_BLOCK_VALUES // max(n_components, 1))
    for start in range(0, hi - lo, block):
        stop = min(hi - lo, start + block)
        draw = rng.random((stop - start, n_components))
        draw *= 2.0 * half_width
        draw += 1.0 - half_width - eta
        word_topic[start:stop] = draw
    _SHARDS[(token, shard)] = Shard(lo, hi, word_topic, 0)
    return int(_SHARDS[(token, shard)].word_topic.nbytes)


def load_shard(
    token: str, shard: int, lo: int, hi: int, parts: list[tuple[str, int, int]], step: int,
    dtype: str, verify: dict[str, str] | None = None,
) -> int:
    """Rows ``lo:hi`` of W from checkpoint parts ``(path or URL, part_lo, part_hi)`` (any
    split); only those rows of each part are read, except for the parts in ``verify``
    (path -> sha256), which are read whole and checked
    (:class:`~svi_lda.distributed.sharded.part_io.PartChecksumError` if one differs)."""
    verify = verify or {}
    rows = []
    for path, part_lo, part_hi in parts:
        start, stop = max(lo, part_lo), min(hi, part_hi)
        if path in verify:
            block = part_io.read_rows_verified(path, max(0, start - part_lo),
                                               max(0, stop - part_lo), dtype, verify[path])
            if start < stop:
                rows.append(block)
        elif start < stop:
            rows.append(part_io.read_rows(path, start - part_lo, stop - part_lo, dtype))
    word_topic = np.concatenate(rows) if rows else np.zeros((0, 0), dtype=dtype)
    if len(word_topic) != hi - lo:
        raise RuntimeError(f"checkpoint parts cover {len(word_topic)} of rows {lo}:{hi}")
    _SHARDS[(token, shard)] = Shard(lo, hi, word_topic, step)
    return int(word_topic.nbytes)


def column_sums_chain(
    token: str, shard: int, carry: np.ndarray | None, factor: float | None = None
) -> np.ndarray:
    """Continue ``W.sum(axis=0)`` over this shard's rows from ``carry`` (zeros for the
    first shard); with ``factor``, first fold the lazy scale into W (``W *= factor``)."""
    held = _get(token, shard)
    if factor is not None:
        held.word_topic *= held.word_topic.dtype.type(factor)
    out = np.zeros(held.word_topic.shape[1]) if carry is None else np.array(carry)
    _accumulate_rows(held.word_topic, out)
    return out


def shard_rows(
    token: str, shard: int, step: int, local_ids: np.ndarray, scale: float, eta: float,
    psi_totals: np.ndarray, floor: float,
) -> tuple[np.ndarray, np.ndarray]:
    """exp(E[log beta]) rows (row-scaled) and log shifts of this shard's words
    ``local_ids`` (ids minus the shard's first id), from the state after ``step`` updates."""
    held = _get(token, shard)
    if held.step != step:
        raise RuntimeError(f"shard {shard} is at step {held.step}, rows asked at {step}")
    ids = np.asarray(local_ids, dtype=np.int64)
    rows = np.empty((len(ids), held.word_topic.shape[1]), dtype=held.word_topic.dtype)
    log_shift = np.empty(len(ids), dtype=np.float64)
    _exp_elog_beta_rows(
        held.word_topic, ids, scale, eta, psi_totals, floor, rows, log_shift, 0, len(ids)
    )
    return rows, log_shift


def sharded_local_step(
    method_name: str, prepared: Any, positions: np.ndarray, alpha: np.ndarray,
    settings: object, n_threads: int, *pieces: tuple[np.ndarray, np.ndarray],
) -> UnitStats:
    """The method's local step on one unit, with the minibatch's rows pulled from the
    shards (``pieces`` in shard order make the rows of the whole minibatch's words;
    ``positions``: the row of each of the unit's words among them)."""
    rows = np.concatenate([p[0] for p in pieces])
    log_shift = np.concatenate([p[1] for p in pieces])
    stats, _ = get_method(method_name).local_step(
        prepared.batch, prepared.word_index, prepared.word_ids, rows, log_shift, alpha,
        settings, n_threads=n_threads, word_rows=np.asarray(positions, dtype=np.int64),
    )
    return stats


def unit_summary(stats: UnitStats) -> UnitStats:
    """A unit's K-sized and scalar statistics, without its words (for the coordinator)."""
    k = stats.sstats.shape[1]
    return UnitStats(
        word_ids=np.zeros(0, dtype=np.int64), sstats=np.zeros((0, k)), n_docs=stats.n_docs,
        n_tokens=stats.n_tokens, elog_theta_sum=stats.elog_theta_sum,
        theta_sum=stats.theta_sum, doc_bound=stats.doc_bound, n_iter=stats.n_iter,
        word_counts=None, extras=dict(stats.extras),
    )


def stats_slice(
    stats: UnitStats, positions: np.ndarray, cut_lo: int, cut_hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The unit's statistics for one shard's segment ``cut_lo:cut_hi`` of the minibatch's
    word list: (positions in the segment, sstats rows, word counts)."""
    j0, j1 = np.searchsorted(positions, [cut_lo, cut_hi])
    counts = None if stats.word_counts is None else stats.word_counts[j0:j1]
    return positions[j0:j1] - cut_lo, stats.sstats[j0:j1], counts


def _tree_sum(
    slices: tuple[tuple[np.ndarray, np.ndarray, np.ndarray | None], ...], n: int, k: int
) -> np.ndarray:
    """The units' rows of this segment summed along :func:`~svi_lda.step.reduction_tree`,
    as a dense (n, K) float64 block.

    Each node is :func:`~svi_lda.numerics.merge.merge_sorted_rows` of the two below over
    the union of their rows, the kernel of :func:`~svi_lda.step.merge_pair`, so each
    word's sum rounds as in :func:`~svi_lda.step.merge_unit_stats` over the whole units
    (bitwise in process); only the root is spread over the segment's rows.
    """
    nodes = [(pos, sstats) for pos, sstats, _ in slices]
    dense = np.zeros((n, k), dtype=np.float64)
    if not nodes:
        return dense
    for level in reduction_tree(len(nodes)):
        upper = [merge_sorted_rows(*nodes[i], None, *nodes[j], None)[:2] for i, j in level]
        if len(nodes) % 2:
            upper.append(nodes[-1])
        nodes = upper
    positions, rows = nodes[0]
    add_rows(dense, positions, rows)  # 0.0 + the root (float64 already but for one unit)
    return dense


def shard_update(
    token: str, shard: int, step: int, local_ids: np.ndarray, first_index: int,
    n_union: int, coef: float, reset: bool, fold_here: bool,
    *slices: tuple[np.ndarray, np.ndarray, np.ndarray | None],
) -> dict[str, Any]:
    """Apply step ``step``'s natural-gradient update to this shard's columns (every shard
    at once: nothing here depends on another shard).

    ``slices``: each unit's statistics for this shard's segment, in unit order (summed
    here along :func:`~svi_lda.step.reduction_tree`, as every engine sums units).
    ``first_index``: the segment's start in the minibatch's word list of ``n_union``
    words; ``coef``: the update's coefficient (``rho D / (S scale)``, the scale already
    decayed); ``reset``: rho = 1 (W restarts from zero); ``fold_here``: also make
    :func:`shard_fold` (for the first shard, which starts the fold: one task less in the
    chain); the result then carries its ``carry`` too.

    The in-process update sums the increments over fixed chunks of the word list
    (:data:`CHUNK`), each from zero and word by word. A chunk that starts in this segment
    starts at zero here, so its sum is the in-process one; the segment's head (its words
    before its first chunk boundary) continues a chunk opened by the shards before, so
    its sum is left to :func:`shard_fold`, which gets that chunk's running sum.

    Returns the sums of the chunks that start and end in this segment (chunk index, K
    floats), the running sum of the chunk left open at its end (``tail``, or None) and
    the segment's word counts.
    """
    held = _get(token, shard)
    if held.step != step:
        if held.last is not None and held.last[0] == step:
            return held.last[1]  # run twice: the update is applied once
        raise RuntimeError(f"shard {shard} is at step {held.step}, update for {step}")
    n, k = len(local_ids), held.word_topic.shape[1]
    merged = _tree_sum(slices, n, k)
    counts = np.zeros(n, dtype=np.float64)
    for pos, _, word_counts in slices:
        if word_counts is not None:
            counts[pos] += word_counts
    if reset:
        held.word_topic[...] = 0
    ids = np.asarray(local_ids, dtype=np.int64)
    head = 0 if first_index % CHUNK == 0 else min(n, CHUNK - first_index % CHUNK)
    # the head's rows of W now; its chunk's sum comes in shard_fold
    _lazy_add(held.word_topic, ids, merged, coef, np.zeros(k), 0, head)
    emitted: list[tuple[int, np.ndarray]] = []
    tail = None
    for i in range(head, n, CHUNK):  # each starts at a chunk boundary
        stop = min(n, i + CHUNK)
        partial = np.zeros(k)
        _lazy_add(held.word_topic, ids, merged, coef, partial, i, stop)
        if stop - i == CHUNK or first_index + stop == n_union:
            emitted.append(((first_index + i) // CHUNK, partial))
        else:
            tail = partial
    result = {"chunks": emitted, "tail": tail, "counts": counts}
    held.step += 1
    held.pending = (step, merged, head, first_index, n_union, coef, tail)
    if fold_here:
        folded = shard_fold(token, shard, step, result, None)
        result = {**result, "chunks": emitted + folded["chunks"], "carry": folded["carry"]}
    held.last = (step, result)
    return result


def shard_fold(
    token: str, shard: int, step: int, update: dict[str, Any],
    carry: dict[str, Any] | None,
) -> dict[str, Any]:
    """The part of step ``step``'s update that runs shard to shard in word order, after
    :func:`shard_update` (``update``, its result, orders this task after it): the sum of
    the chunk this segment's head continues, and the column sums of the statistics (the
    records' topic token counts, summed word by word as in process). Both cost
    O(K x segment words) additions, no access to W.

    ``carry``: the previous shard's result (None for the first shard). Returns the head's
    chunk sum if the head closes its chunk, and the carry for the next shard.
    """
    held = _get(token, shard)
    if held.folded is not None and held.folded[0] == step:
        return held.folded[1]  # run twice: same result
    if held.pending is None or held.pending[0] != step:
        raise RuntimeError(f"shard {shard} has no update of step {step} to fold")
    _, merged, head, first_index, n_union, coef, tail = held.pending
    n, k = merged.shape
    incoming = None if carry is None else carry["carry"]
    chunk = None if incoming is None else incoming["chunk"]
    colsum = np.zeros(k) if incoming is None else np.array(incoming["colsum"])
    emitted: list[tuple[int, np.ndarray]] = []
    if head:
        partial = np.array(chunk)  # the chunk opened before this segment
        scratch = np.zeros((head, k), dtype=held.word_topic.dtype)
        # the same kernel on a scratch copy: the increments' sum, word by word
        _lazy_add(scratch, np.arange(head, dtype=np.int64), merged, coef, partial, 0, head)
        if (first_index + head) % CHUNK == 0 or first_index + head == n_union:
            emitted.append(((first_index) // CHUNK, partial))
            chunk = tail
        else:
            chunk = partial  # the whole segment lies inside the open chunk
    elif n:
        chunk = tail
    _accumulate_rows(merged, colsum)
    result = {"chunks": emitted, "carry": {"chunk": chunk, "colsum": colsum}}
    held.pending = None
    held.folded = (step, result)
    return result


def seed_shard(token: str, shard: int, increment: Any, coef: float) -> None:
    """Add seeding's increment (a :class:`~.seed_rows.SparseIncrement` of this shard's
    words, ids relative to the shard) to this shard's rows."""
    from svi_lda.distributed.sharded.seed_rows import lazy_add_sparse

    held = _get(token, shard)
    lazy_add_sparse(held.word_topic, increment, coef, np.zeros(held.word_topic.shape[1]))


def write_part(token: str, shard: int, path: str) -> dict[str, Any]:
    """Write this shard's rows to ``path`` (a local path or an fsspec URL; ``.npy``, no
    pickle), whole or not at all; return its size, sha256 and the shard's step."""
    held = _get(token, shard)
    return {**part_io.write_rows(path, held.word_topic), "step": held.step}


def shard_rows_all(token: str, shard: int) -> np.ndarray:
    """A copy of this shard's rows of W (to assemble a model that fits in one process)."""
    return _get(token, shard).word_topic.copy()


def drop_run(token: str) -> int:
    """Forget every shard of run ``token`` held here; returns how many."""
    keys = [key for key in _SHARDS if key[0] == token]
    for key in keys:
        del _SHARDS[key]
    return len(keys)


def held_bytes() -> int:
    """Bytes of shard rows this worker process holds."""
    return int(sum(s.word_topic.nbytes for s in _SHARDS.values()))
