"""Holding out documents by a hash of their id: the same split on any machine, in any
order, for any grouping of documents into row groups."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda.numerics.hashing import splitmix64


def held_out_documents(doc_ids: np.ndarray, share: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the documents held out: ``u(doc_id) < share``.

    ``u`` is the top 53 bits of ``splitmix64(splitmix64(seed) ^ doc_id)`` over 2**53, a
    uniform in [0, 1) that depends only on the seed and the document id.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"the held-out share must lie in (0, 1); got {share!r}")
    key = splitmix64(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    bits = splitmix64(np.asarray(doc_ids).astype(np.uint64) ^ key) >> np.uint64(11)
    return bits.astype(np.float64) * 2.0**-53 < share


def split_corpus(
    corpus: Any, out_dir: str | os.PathLike, share: float, seed: int = 0
) -> tuple[Any, Any]:
    """Write the training and held-out documents of a corpus folder to two new folders.

    Streams one row group at a time (memory: one row group). Returns
    ``(train, held_out)`` as :class:`~svi_lda.corpus.ParquetCorpus` under ``out_dir``
    (``train/`` and ``held-out/``), with the original document ids and vocabulary.
    """
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.corpus.writer import CorpusWriter

    corpus = corpus if isinstance(corpus, ParquetCorpus) else ParquetCorpus(corpus)
    out = storage.location(out_dir)  # a local folder or a URL
    words = list(corpus.vocabulary.words)
    size = max(u.n_docs for u in corpus.units) if corpus.units else 1
    writers = {
        side: CorpusWriter(storage.join(out, side), words, row_group_size=size, overwrite=True)
        for side in ("train", "held-out")
    }
    for batch in corpus.iter_batches():
        mask = held_out_documents(batch.doc_ids, share, seed)
        X = batch.to_csr()
        for side, rows in (("train", ~mask), ("held-out", mask)):
            if rows.any():
                part = X[np.flatnonzero(rows)]
                writers[side].add(part.indptr.astype(np.int64), part.indices.astype(np.int32),
                                  part.data.astype(np.int32), batch.doc_ids[rows])
    source = {"kind": "split", "of": str(corpus.path), "share": share, "seed": seed}
    tokenizer = getattr(corpus.vocabulary, "tokenizer", None)
    train = writers["train"].close(tokenizer=tokenizer, source=source)
    held = writers["held-out"].close(tokenizer=tokenizer, source=source)
    return train, held
