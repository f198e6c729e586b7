"""One task per corpus unit on a Dask cluster, results handed back in unit order.

Used by every streamed pass that may run on a cluster (:func:`svi_lda.evaluation.evaluate`,
:func:`svi_lda.evaluation.coherence_counts`, the report's example documents). The caller
adds or merges results in unit order, so its figures do not depend on which worker ran
which unit. At most two tasks per worker thread are in flight: results waiting on the
client stay few (bounded memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from svi_lda.batch import Batch


def map_units_in_order(
    client: Any, task: Callable[..., Any], units: Sequence[Any], *shared: Any
) -> Iterator[Any]:
    """Yield ``task(unit, *shared)`` for each unit, computed on the cluster, in unit order.

    ``shared`` objects are scattered to every worker once (not sent with each task).
    """
    threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    window = max(2, 2 * threads)
    scattered = [client.scatter(obj, broadcast=True, hash=False) for obj in shared]
    futures: list[Any] = []
    submitted = 0
    for i in range(len(units)):
        while submitted < len(units) and submitted < i + window:
            futures.append(client.submit(task, units[submitted], *scattered, pure=False))
            submitted += 1
        result = futures[i].result()
        futures[i] = None  # let the worker forget it
        yield result


@dataclass(frozen=True)
class CorpusOnDisk:
    """What a worker needs to read a corpus folder's units (small, sent once)."""

    path: str
    n_features: int

    @classmethod
    def of(cls, reader: Any, what: str) -> CorpusOnDisk:
        """The folder of ``reader`` (a ParquetCorpus); ValueError naming ``what`` else."""
        from svi_lda.corpus import ParquetCorpus

        if not isinstance(reader, ParquetCorpus):
            raise ValueError(f"{what} on a cluster needs a corpus folder (workers read it)")
        from svi_lda import storage

        return cls(storage.absolute(reader.path), reader.n_features)

    def read(self, unit: Any, *, with_counts: bool = True) -> Batch:
        """One unit as a Batch (see :func:`svi_lda.corpus.read_unit`)."""
        from svi_lda.corpus import read_unit

        return read_unit(self.path, unit, n_features=self.n_features, with_counts=with_counts)
