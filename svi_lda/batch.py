"""A minibatch of bag-of-words documents: the unit every engine feeds to the E-step.

A :class:`Batch` is CSR without scipy: ``indptr``, ``indices`` (global word ids, sorted and
unique within each document), ``counts`` and a stable ``doc_ids`` per row. The document id
seeds that document's initial variational parameters, so a document starts from the same
point whichever worker, thread or minibatch processes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass(frozen=True)
class Batch:
    """Documents as CSR arrays plus stable document ids.

    Parameters
    ----------
    indptr : ndarray of int32 or int64, shape (n_docs + 1,)
        Row pointers. ``indptr[0]`` may be non-zero (zero-copy slices of Arrow buffers).
    indices : ndarray of int32 or int64, shape (indptr[-1],)
        Global word ids, sorted and unique within each document.
    counts : ndarray of float64, float32 or int32, shape (indptr[-1],)
        Non-negative word counts.
    doc_ids : ndarray of int64, shape (n_docs,)
        Stable document identifiers.
    n_features : int
        Vocabulary size V the word ids refer to.
    """

    indptr: np.ndarray
    indices: np.ndarray
    counts: np.ndarray
    doc_ids: np.ndarray
    n_features: int

    @property
    def n_docs(self) -> int:
        """Number of documents (rows)."""
        return len(self.indptr) - 1

    @property
    def n_tokens(self) -> float:
        """Total word count of the batch."""
        start, stop = int(self.indptr[0]), int(self.indptr[-1])
        return float(np.sum(self.counts[start:stop], dtype=np.float64))

    def to_csr(self) -> sp.csr_matrix:
        """Return the documents as a ``scipy.sparse.csr_matrix`` of float64 counts."""
        start = int(self.indptr[0])
        indptr = np.asarray(self.indptr, dtype=np.int64) - start
        stop = int(indptr[-1])
        return sp.csr_matrix(
            (
                np.asarray(self.counts[start : start + stop], dtype=np.float64),
                np.asarray(self.indices[start : start + stop], dtype=np.int64),
                indptr,
            ),
            shape=(self.n_docs, self.n_features),
        )

    @classmethod
    def from_csr(
        cls, X: sp.spmatrix | sp.sparray, doc_ids: np.ndarray | None = None, first_doc_id: int = 0
    ) -> Batch:
        """Wrap an already validated CSR matrix (sorted indices, non-negative counts).

        ``doc_ids`` defaults to ``first_doc_id + arange(n_docs)``.
        """
        X = sp.csr_matrix(X)
        if doc_ids is None:
            doc_ids = np.arange(first_doc_id, first_doc_id + X.shape[0], dtype=np.int64)
        return cls(
            indptr=X.indptr,
            indices=X.indices,
            counts=X.data,
            doc_ids=np.asarray(doc_ids, dtype=np.int64),
            n_features=int(X.shape[1]),
        )


def concat_batches(batches: list[Batch]) -> Batch:
    """Stack batches row-wise (same ``n_features``) into one batch, in the given order."""
    if not batches:
        raise ValueError("concat_batches needs at least one batch")
    n_features = batches[0].n_features
    indptrs, indices, counts = [np.zeros(1, dtype=np.int64)], [], []
    offset = 0
    for b in batches:
        if b.n_features != n_features:
            raise ValueError(
                f"cannot concatenate batches over {n_features} and {b.n_features} features"
            )
        start, stop = int(b.indptr[0]), int(b.indptr[-1])
        indptrs.append(np.asarray(b.indptr[1:], dtype=np.int64) - start + offset)
        indices.append(b.indices[start:stop])
        counts.append(b.counts[start:stop])
        offset += stop - start
    return Batch(
        indptr=np.concatenate(indptrs),
        indices=np.concatenate(indices),
        counts=np.concatenate(counts),
        doc_ids=np.concatenate([b.doc_ids for b in batches]).astype(np.int64, copy=False),
        n_features=n_features,
    )
