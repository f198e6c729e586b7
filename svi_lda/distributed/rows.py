"""How a step's parameter rows reach the workers: each row leaves the coordinator once.

The coordinator computes the rows (for SVI exp(E[log beta]) and its log shifts) for the
union of the minibatch's words, cuts them into one chunk per worker the step uses, and
ships each chunk once, to one of those workers. A local step depends on the chunks that
hold its unit's words, and Dask brings the ones it lacks from the workers holding them
(peer to peer), so the coordinator sends one copy of the union per step, whatever the
number of workers.

A chunk goes either straight to a worker (``scatter(direct=True)``: one hop, but lost
if that worker dies, in which case the engine sends the step again with every chunk
inline) or inside a task (:func:`svi_lda.distributed.tasks.rows_chunk`, through the
scheduler: a task Dask re-runs elsewhere if its worker dies). How the rows are cut never
changes a result: the kernel reads the same values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from svi_lda.distributed import tasks
from svi_lda.distributed.graphs import GraphBuilder

logger = logging.getLogger("svi_lda.distributed.coordinator")


def chunk_starts(n_rows: int, n_chunks: int) -> np.ndarray:
    """First union row of each of ``n_chunks`` near-equal chunks of ``n_rows`` rows
    (no empty chunk: fewer chunks if there are fewer rows)."""
    n_chunks = max(1, min(n_chunks, n_rows))
    return (np.arange(n_chunks, dtype=np.int64) * n_rows) // n_chunks


def chunks_of(positions: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The chunks (indices into ``starts``) holding any of the union rows ``positions``."""
    if len(positions) == 0:
        return np.zeros(1, dtype=np.int64)  # a unit without words still needs a block
    return np.unique(np.searchsorted(starts, positions, side="right") - 1)


def ship_chunks(
    client: Any,
    graph: GraphBuilder,
    rows: np.ndarray,
    log_shift: np.ndarray,
    word_ids: np.ndarray,
    starts: np.ndarray,
    targets: Sequence[str | None],
    *,
    key: str,
    scatter: bool,
) -> tuple[list[Any], int, list[Any]]:
    """Send the chunks of the rows, with their word ids, one to each of ``targets``, once.

    ``scatter``: straight from this process (all chunks in one call); if a worker fails
    meanwhile, every chunk goes inline instead. Inline, chunk ``c`` travels inside a
    :func:`~svi_lda.distributed.tasks.rows_chunk` task keyed ``{key}-{c}`` for
    ``targets[c]``, added to ``graph``. Returns the chunks (futures, or references into
    ``graph``), the bytes sent, and the futures that were scattered (they die with their
    worker).
    """
    bounds = [*starts.tolist(), len(rows)]
    if len(word_ids) and int(word_ids[-1]) < 2**31:
        word_ids = word_ids.astype(np.int32)  # half the bytes
    pieces = [
        (rows[a:b], log_shift[a:b], word_ids[a:b])
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    futures: list[Any] = [None] * len(pieces)
    scattered: list[Any] = []
    sent = 0
    if scatter:
        # One call for all chunks: one request to the scheduler before and one after,
        # and one message to each worker (Dask deals the chunks round-robin over
        # ``targets``, one each: which worker holds which chunk changes nothing, as every
        # local step takes them all). If a worker fails meanwhile, they all go inline.
        workers = [w for w in targets if w is not None]
        try:
            futures = client.scatter(
                pieces, workers=workers or None, direct=True, hash=False
            )
        except (OSError, TimeoutError) as exc:  # a worker just died
            logger.warning("scatter to %s failed (%s): rows go inline", workers, exc)
            futures = [None] * len(pieces)
        else:
            scattered = list(futures)
            sent = sum(a.nbytes for piece in pieces for a in piece)
    for c, (piece, worker) in enumerate(zip(pieces, targets, strict=True)):
        if futures[c] is None:
            futures[c] = graph.add(f"{key}-{c}", tasks.rows_chunk, *piece, worker=worker)
            sent += sum(a.nbytes for a in piece)
    return futures, sent, scattered
