"""Sources of units: what the run loop walks, whatever the input.

A source hands out *unit references* (a row range of a matrix, a minibatch of a list, a
Parquet row group) grouped into steps, and reads a reference into a
:class:`~svi_lda.batch.Batch` when an engine needs its documents. Grouping follows the
method (:mod:`svi_lda.methods`): ``"minibatches"`` of ``batch_size`` documents,
``"pass"`` (every unit in one step) or ``"whole"`` (the corpus as one unit).

Each :class:`Minibatch` carries ``resume``: where a walk continues after it (epoch,
position in that epoch's plan, units consumed in it), which a checkpoint stores with the
state and :func:`walk` starts from, so a resumed walk is the uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp

from svi_lda._validation import check_doc_term_matrix
from svi_lda.batch import Batch, concat_batches


@dataclass(frozen=True)
class Minibatch:
    """The units of one step, and where the walk stands after it.

    Attributes
    ----------
    epoch, position : int
        Pass over the source and index of the step in that pass's plan.
    last_in_epoch : bool
        Whether the pass ends with this step.
    units : list
        References the source reads (:meth:`UnitSource.read`).
    consumed, n_consumed : list of str, int
        The keys of the pass's units consumed after this step: the first ``n_consumed``
        of ``consumed`` (a list shared by the pass's minibatches, only appended to).
    record : dict, optional
        The source's own record of where it stands after this step (a stream: files
        and row ranges), in place of the epoch/position one.
    """

    epoch: int
    position: int
    last_in_epoch: bool
    units: list[Any]
    consumed: list[str] = field(default_factory=list)
    n_consumed: int = 0
    record: dict[str, Any] | None = None

    @property
    def resume(self) -> dict[str, Any]:
        """JSON-able: where the walk continues after this step (what a checkpoint
        stores): ``record`` if given, else ``{"epoch", "position", "consumed_units"}``."""
        if self.record is not None:
            return self.record
        if self.last_in_epoch:
            return start_record(self.epoch + 1)
        return start_record(self.epoch, self.position + 1, self.consumed[: self.n_consumed])


class UnitSource(Protocol):
    """What the loop and the engines need of a source."""

    n_features: int

    def read(self, ref: Any) -> Batch: ...

    def key(self, ref: Any) -> str: ...

    def plan(self, epoch: int, grouping: str, batch_size: int, seed: int) -> list[list[Any]]:
        """The steps of pass ``epoch``: lists of unit references."""
        ...


def start_record(epoch: int = 0, position: int = 0, consumed: Sequence[str] = ()) -> dict:
    """A ``resume`` record: the walk starts at ``position`` of pass ``epoch``."""
    return {"epoch": int(epoch), "position": int(position), "consumed_units": list(consumed)}


def walk(
    source: UnitSource,
    *,
    grouping: str,
    batch_size: int,
    seed: int,
    n_epochs: int,
    start: dict[str, Any] | None = None,
) -> Iterator[Minibatch]:
    """The steps from ``start`` to the end of pass ``n_epochs - 1``, in order.

    The units consumed before ``start`` in its pass (``start["consumed_units"]``) are kept
    in the records, so a checkpoint written after a resume can itself be resumed.
    """
    start = start or start_record()
    for epoch in range(int(start["epoch"]), n_epochs):
        plan = source.plan(epoch, grouping, batch_size, seed)
        first = 0
        consumed: list[str] = []
        if epoch == int(start["epoch"]):
            first = int(start["position"])
            consumed = list(start.get("consumed_units", []))
        for position in range(first, len(plan)):
            group = plan[position]
            last = position == len(plan) - 1
            if not last:
                consumed.extend(source.key(u) for u in group)
            yield Minibatch(epoch, position, last, group, consumed, len(consumed))


def _contiguous(n_docs: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n_docs)) for i in range(0, n_docs, batch_size)]


class MatrixSource:
    """A document-term matrix in memory. Online steps take ``batch_size`` rows drawn by a
    seeded permutation per pass (corpora are often sorted, e.g. by label, and SVI assumes
    random minibatches); a pass takes contiguous blocks. A document's id is its row."""

    def __init__(self, X: sp.csr_matrix) -> None:
        self.X = X
        self.n_features = int(X.shape[1])
        self.n_docs = int(X.shape[0])
        self.n_tokens = float(X.sum())

    def plan(self, epoch: int, grouping: str, batch_size: int, seed: int) -> list[list[Any]]:
        if grouping == "whole":
            return [[slice(0, self.n_docs)]]
        if grouping == "pass":
            return [_contiguous(self.n_docs, batch_size)]
        order = np.random.default_rng([seed, epoch]).permutation(self.n_docs)
        return [[np.sort(order[s])] for s in _contiguous(self.n_docs, batch_size)]

    def read(self, ref: Any) -> Batch:
        if isinstance(ref, slice):
            if ref.start == 0 and ref.stop == self.n_docs:
                return Batch.from_csr(self.X)
            return Batch.from_csr(self.X[ref], first_doc_id=ref.start)
        return Batch.from_csr(self.X[ref], doc_ids=ref)

    def key(self, ref: Any) -> str:
        if isinstance(ref, slice):
            return f"rows {ref.start}:{ref.stop}"
        return f"rows {int(ref[0])}+{len(ref)}"


class BatchListSource:
    """A list of minibatches in memory: each is one online step, in the given order,
    every pass; a pass takes them all."""

    def __init__(self, batches: Sequence[Batch]) -> None:
        self.batches = list(batches)
        self.n_features = self.batches[0].n_features
        self.n_docs = sum(b.n_docs for b in self.batches)
        self.n_tokens = sum(b.n_tokens for b in self.batches)

    def plan(self, epoch: int, grouping: str, batch_size: int, seed: int) -> list[list[Any]]:
        if grouping == "whole":
            return [[-1]]
        indices = list(range(len(self.batches)))
        return [indices] if grouping == "pass" else [[i] for i in indices]

    def read(self, ref: Any) -> Batch:
        return concat_batches(self.batches) if ref == -1 else self.batches[ref]

    def key(self, ref: Any) -> str:
        return "all" if ref == -1 else f"minibatch {ref}"

    @classmethod
    def from_inputs(cls, X: Sequence[Any]) -> BatchListSource:
        """Validate a list of sparse matrices or Batches (ids continue across them)."""
        batches: list[Batch] = []
        first_doc = 0
        n_features = None
        for i, x in enumerate(X):
            if isinstance(x, Batch):
                batch = x
            else:
                batch = Batch.from_csr(
                    check_doc_term_matrix(x, n_features=n_features, name=f"minibatch {i}"),
                    first_doc_id=first_doc,
                )
            if n_features is not None and batch.n_features != n_features:
                raise ValueError(
                    f"minibatch {i} has {batch.n_features} columns, minibatch 0 has "
                    f"{n_features}."
                )
            n_features = batch.n_features
            first_doc += batch.n_docs
            batches.append(batch)
        return cls(batches)


class CorpusSource:
    """A Parquet corpus folder: online steps follow
    :func:`svi_lda.corpus.plan_minibatches` (the plan the Dask engine follows too); a
    pass reads every row group in order; "whole" reads the corpus into one matrix."""

    def __init__(self, corpus: Any) -> None:
        self.corpus = corpus
        self.n_features = int(corpus.n_features)
        self.n_docs = int(corpus.n_docs)
        self.n_tokens = float(corpus.n_tokens)

    def plan(self, epoch: int, grouping: str, batch_size: int, seed: int) -> list[list[Any]]:
        from svi_lda.corpus import plan_minibatches

        if grouping == "whole":
            return [[None]]
        if grouping == "pass":
            return [list(self.corpus.units)]
        return plan_minibatches(self.corpus.units, batch_size, epoch=epoch, seed=seed)

    def read(self, ref: Any) -> Batch:
        if ref is None:
            return Batch.from_csr(self.corpus.to_csr())
        return self.corpus.read_unit(ref)

    def key(self, ref: Any) -> str:
        return "all" if ref is None else ref.key


class InMemoryUnits:
    """Minibatches whose units are :class:`~svi_lda.batch.Batch` objects already (a
    stream, ``partial_fit``): reading a unit is the unit itself."""

    def __init__(self, n_features: int) -> None:
        self.n_features = int(n_features)

    def plan(self, epoch: int, grouping: str, batch_size: int, seed: int) -> list[list[Any]]:
        raise ValueError("units in memory come as minibatches, not as a plan")

    def read(self, ref: Batch) -> Batch:
        return ref

    def key(self, ref: Batch) -> str:
        return f"docs {int(ref.doc_ids[0]) if ref.n_docs else -1}+{ref.n_docs}"


class IteratorSource(InMemoryUnits):
    """An iterator of minibatches, consumed once (one pass, online steps only).

    The first minibatch is read at once (it gives the number of columns); the others as
    the loop asks. Document ids continue across minibatches.
    """

    def __init__(self, batches: Iterator[Any]) -> None:
        self._it = iter(batches)
        self._first_doc = 0
        first = next(self._it, None)
        if first is None:
            raise ValueError("The iterator of minibatches was empty: nothing to fit.")
        self._head: Batch | None = self._as_batch(first, None)
        super().__init__(self._head.n_features)

    def _as_batch(self, X: Any, n_features: int | None) -> Batch:
        unit = Batch.from_csr(
            check_doc_term_matrix(X, n_features=n_features), first_doc_id=self._first_doc
        )
        self._first_doc += unit.n_docs
        return unit

    def _next(self) -> Batch | None:
        if self._head is not None:
            head, self._head = self._head, None
            return head
        X = next(self._it, None)
        return None if X is None else self._as_batch(X, self.n_features)

    def walk(self) -> Iterator[Minibatch]:
        """Each minibatch as one step (one ahead is read to know the last)."""
        current = self._next()
        position = 0
        while current is not None:
            upcoming = self._next()
            yield Minibatch(0, position, upcoming is None, [current])
            current, position = upcoming, position + 1
