"""The topic bound of a sharded model, W left on the workers (for
:meth:`svi_lda.distributed.sharded.ShardedModel.score`).

:func:`svi_lda.bounds.topic_bound` sums the bound's terms chunk by chunk
(:data:`~svi_lda.bounds.CHUNK_WORDS` words each, NumPy's pairwise sum within a chunk), the
chunks one after another. A shard sums the chunks it holds whole
(:func:`shard_bound_sums`); a chunk cut by a shard boundary comes as pieces
(:func:`shard_bound_piece`), joined and summed by one task (:func:`chunk_sum`): the
joined pieces are the assembled chunk, element for element, so its sum is bitwise the
assembled model's (a sum of the pieces' sums would round differently).
"""

from __future__ import annotations

import numpy as np

from svi_lda.bounds import CHUNK_WORDS, topic_bound_terms
from svi_lda.distributed.sharded import shard_tasks


def shard_bound_sums(
    token: str, shard: int, chunks: list[tuple[int, int]], scale: float, eta: float,
    psi_totals: np.ndarray,
) -> list[float]:
    """The sum of the topic bound's terms over each of ``chunks`` (global word ranges
    ``lo:hi`` that this shard holds whole), as :func:`svi_lda.bounds.topic_bound` sums
    each chunk."""
    held = shard_tasks._get(token, shard)
    return [
        float(np.sum(topic_bound_terms(held.word_topic[lo - held.lo:hi - held.lo], scale,
                                       eta, psi_totals)))
        for lo, hi in chunks
    ]


def shard_bound_piece(
    token: str, shard: int, lo: int, hi: int, scale: float, eta: float,
    psi_totals: np.ndarray,
) -> np.ndarray:
    """The topic bound's terms of this shard's words ``lo:hi`` (global ids), shape
    (hi - lo, K): its piece of a chunk that other shards hold the rest of."""
    held = shard_tasks._get(token, shard)
    return topic_bound_terms(held.word_topic[lo - held.lo:hi - held.lo], scale, eta,
                             psi_totals)


def chunk_sum(*pieces: np.ndarray) -> float:
    """The sum of a chunk's terms from its shards' pieces (in word order): the pieces
    joined are the assembled model's chunk, element for element, so the sum is its."""
    return float(np.sum(np.concatenate(pieces)))


def bound_chunks(bounds: np.ndarray, n_features: int) -> list[list[tuple[int, int, int]]]:
    """For each :data:`~svi_lda.bounds.CHUNK_WORDS`-word chunk of the vocabulary, in
    order: the ``(shard, lo, hi)`` pieces of it that each shard holds (one piece when a
    shard holds it whole)."""
    out = []
    for start in range(0, n_features, CHUNK_WORDS):
        stop = min(start + CHUNK_WORDS, n_features)
        out.append([
            (s, max(start, int(bounds[s])), min(stop, int(bounds[s + 1])))
            for s in range(len(bounds) - 1)
            if max(start, int(bounds[s])) < min(stop, int(bounds[s + 1]))
        ])
    return out
