"""A minibatch's pieces (raw text, or counts over a corpus part's vocabulary) -> one Batch
over the model's ids, growing the vocabulary.

All the minibatch's distinct words are given ids in one call (first appearance in
document order), so pruning for the cap can never retire a word this minibatch uses.
Cost: O(tokens + distinct words of the minibatch); nothing here is O(V).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from svi_lda.batch import Batch
from svi_lda.state import GlobalState
from svi_lda.streaming.readers import Piece
from svi_lda.streaming.vocabulary import GrowingVocabulary


def _first_appearance(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values in order of first appearance, and each element's position there."""
    uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order], rank[inverse]


def _piece_tokens(piece: Piece, vocab: GrowingVocabulary):
    """(distinct words as Arrow strings, token -> word position, token doc, token count)."""
    if piece.texts is not None:
        tokens = vocab.tokenizer.tokenize_arrow(piece.texts)
        doc = np.repeat(np.arange(tokens.n_docs), np.diff(tokens.doc_offsets))
        if tokens.n_tokens == 0:
            return _NO_WORDS, np.zeros(0, np.int64), doc, np.zeros(0, np.int64)
        enc = pc.dictionary_encode(tokens.as_arrow())
        local = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        return enc.dictionary, local, doc, np.ones(len(local), dtype=np.int64)
    b = piece.bow
    start, stop = int(b.indptr[0]), int(b.indptr[-1])
    part_ids = np.asarray(b.indices[start:stop], dtype=np.int64)
    doc = np.repeat(np.arange(b.n_docs), np.diff(np.asarray(b.indptr, dtype=np.int64)))
    uniq, local = _first_appearance(part_ids)
    words = piece.part_words.take(pa.array(uniq)).cast(pa.large_string())
    return words, local, doc, np.asarray(b.counts[start:stop], dtype=np.int64)


_NO_WORDS = pa.array([], pa.large_string())


def encode_pieces(
    pieces: Sequence[Piece],
    vocab: GrowingVocabulary,
    state: GlobalState | None,
    first_doc_id: int,
) -> Batch:
    """The documents of ``pieces`` (in order) as one Batch over the model's ids.

    ``state`` (None before the model exists) grows with the vocabulary. Document ids are
    ``first_doc_id`` onwards. Words the vocabulary cap leaves out are dropped.
    """
    parts = [_piece_tokens(p, vocab) for p in pieces]
    # The minibatch's distinct words in order of first appearance (Arrow's unique keeps
    # it), each looked up once in the vocabulary.
    union = pc.unique(pa.concat_arrays([words.cast(pa.large_string()) for words, *_ in parts]))
    ids = vocab.assign(union.to_pylist(), state)
    n_features = len(vocab)
    blocks = []
    for piece, (words, local, doc, counts) in zip(pieces, parts, strict=True):
        if len(words):
            position = pc.index_in(words, value_set=union).to_numpy(zero_copy_only=False)
            token_ids = ids[position.astype(np.int64)][local]
            kept = token_ids >= 0
            rows, cols, vals = doc[kept], token_ids[kept], counts[kept]
        else:
            rows = cols = vals = np.zeros(0, np.int64)
        X = sp.csr_matrix(
            (vals.astype(np.float64), (rows, cols)), shape=(len(piece), n_features)
        )
        X.sum_duplicates()
        X.sort_indices()
        blocks.append(X)
    X = sp.vstack(blocks, format="csr") if len(blocks) > 1 else blocks[0]
    X.sort_indices()
    vocab.count(X.indices, X.data)
    n = X.shape[0]
    return Batch.from_csr(X, doc_ids=np.arange(first_doc_id, first_doc_id + n, dtype=np.int64))
