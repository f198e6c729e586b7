"""One unit of work: a row group of a corpus part file, read and checked.

:func:`read_unit` is what a Dask worker calls: it opens one part file, reads one row
group and hands back a :class:`~svi_lda.batch.Batch` whose arrays are views of the Arrow
buffers (no copy; the arrays are read-only).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from svi_lda import storage
from svi_lda.batch import Batch
from svi_lda.corpus.format import (
    META_N_FEATURES,
    CorpusError,
    row_group_ranges,
    sha256_range,
)

# What every corpus error tells the user to do.
FIX = "re-run `svi-lda ingest` (or the conversion) into an empty folder"
_FIX = FIX


@dataclass(frozen=True)
class CorpusUnit:
    """One row group of one part file: the unit of work of every engine."""

    file: str
    row_group: int
    n_docs: int
    sha256: str | None = None  # of the row group's bytes; None for corpora without checksums

    @property
    def key(self) -> str:
        """Stable name of the unit, e.g. ``"part-00000.parquet#3"``."""
        return f"{self.file}#{self.row_group}"


def _one_chunk(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The column as one array; no copy when it already is one chunk (the usual case:
    ``combine_chunks`` would copy even then)."""
    if isinstance(col, pa.ChunkedArray):
        return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()
    return col


def _list_values(col: pa.ChunkedArray | pa.Array, where: str, name: str):
    """(offsets, values) numpy views of a ``list<int32>`` column."""
    arr = _one_chunk(col)
    if arr.type != pa.list_(pa.int32()) and not (
        pa.types.is_list(arr.type) and arr.type.value_type == pa.int32()
    ):
        raise CorpusError(f"{where}: column {name!r} must be list<int32>; found {arr.type}. {_FIX}")
    if arr.null_count:
        raise CorpusError(f"{where}: column {name!r} has null rows. {_FIX}")
    offsets = arr.offsets.to_numpy(zero_copy_only=True)
    values = arr.values.to_numpy(zero_copy_only=True)
    return offsets, values


def read_unit(
    corpus_path: str | os.PathLike, unit: CorpusUnit, *, n_features: int | None = None,
    with_counts: bool = True,
) -> Batch:
    """Read one row group as a CSR :class:`Batch` (zero copy where pyarrow allows).

    Parameters
    ----------
    corpus_path : path or str
        The corpus folder: a local path or an fsspec URL (``s3://bucket/corpus``).
    unit : CorpusUnit
        Which file and row group.
    n_features : int, optional
        Vocabulary size; read from the part file's metadata when omitted.
    with_counts : bool, default=True
        False skips the ``counts`` column (for what needs only which words a document
        holds, such as coherence): every count is then 1.

    Returns
    -------
    Batch
        ``indptr`` are the Arrow list offsets (``indptr[0]`` may be non-zero), ``indices``
        and ``counts`` the int32 values; all read-only views.

    Raises
    ------
    CorpusError
        Naming the file and row group, if the columns have the wrong types, the row
        count differs from the plan, or token ids are out of range or not sorted.
    """
    path = storage.join(storage.location(corpus_path), unit.file)
    where = f"row group {unit.row_group} of {path}"
    if isinstance(path, Path):
        return _read_unit_from(path, pq.ParquetFile, unit, n_features, where,
                               with_counts=with_counts)
    try:
        fh = storage.open_parquet(path, unit.row_group)
    except (OSError, ValueError, IndexError, pa.ArrowException) as exc:
        raise CorpusError(f"cannot open part file {path}: {short_message(exc)}. {_FIX}") from None
    with fh:
        return _read_unit_from(path, lambda _: pq.ParquetFile(fh), unit, n_features, where,
                               handle=fh, with_counts=with_counts)


def _read_unit_from(
    path: storage.Location,
    open_file: Any,
    unit: CorpusUnit,
    n_features: int | None,
    where: str,
    handle: Any = None,
    with_counts: bool = True,
) -> Batch:
    try:
        pf = open_file(path)
    except (OSError, ValueError, pa.ArrowException) as exc:  # ValueError: a damaged footer
        raise CorpusError(f"cannot open part file {path}: {short_message(exc)}. {_FIX}") from None
    if not 0 <= unit.row_group < pf.metadata.num_row_groups:
        raise CorpusError(
            f"{path} has {pf.metadata.num_row_groups} row groups; row group {unit.row_group} "
            f"does not exist. {_FIX}"
        )
    if unit.sha256 is not None:
        start, stop = row_group_ranges(pf.metadata)[unit.row_group]
        with contextlib.nullcontext(handle) if handle else open(path, "rb") as fh:
            if sha256_range(fh, start, stop) != unit.sha256:
                raise CorpusError(
                    f"{where} does not match its checksum in the manifest: the file is "
                    f"corrupt (a changed byte or a truncation). {_FIX}"
                )
    if n_features is None:
        meta = pf.schema_arrow.metadata or {}
        if META_N_FEATURES not in meta:
            raise CorpusError(f"{path} lacks svi-lda metadata (n_features). {_FIX}")
        try:
            n_features = int(meta[META_N_FEATURES])
        except ValueError:
            raise CorpusError(f"{path}: corrupt svi-lda metadata (n_features). {_FIX}") from None
    try:
        columns = ["doc_id", "token_ids", "counts"] if with_counts else ["doc_id", "token_ids"]
        table = pf.read_row_group(unit.row_group, columns=columns)
    except (OSError, RuntimeError, ValueError, KeyError, pa.ArrowException) as exc:
        # Corpora without checksums: the decoder is the only line of defence.
        raise CorpusError(f"{where} cannot be decoded: {short_message(exc)}. {_FIX}") from None
    if table.num_rows != unit.n_docs:
        raise CorpusError(
            f"{where} has {table.num_rows} documents; the manifest says {unit.n_docs}. {_FIX}"
        )
    doc_col = table.column("doc_id")
    if doc_col.type != pa.int64():
        raise CorpusError(f"{where}: column 'doc_id' must be int64; found {doc_col.type}. {_FIX}")
    doc_ids = _one_chunk(doc_col).to_numpy(zero_copy_only=True)
    indptr, indices = _list_values(table.column("token_ids"), where, "token_ids")
    lo, hi = int(indptr[0]), int(indptr[-1])
    if with_counts:
        cptr, counts = _list_values(table.column("counts"), where, "counts")
        if not np.array_equal(indptr, cptr) and not np.array_equal(
            np.diff(indptr), np.diff(cptr)
        ):
            raise CorpusError(
                f"{where}: token_ids and counts differ in length in some rows. {_FIX}"
            )
        counts = counts[int(cptr[0]) : int(cptr[-1])]
    else:  # a read-only view of one 1: no allocation per non-zero
        counts = np.broadcast_to(np.int32(1), (hi - lo,))
    indices = indices[lo:hi]
    # Rebase onto the sliced values so that indptr[0] indexes them: read-only views stay.
    if lo:
        indptr = indptr - lo
    _check_values(indptr, indices, counts, n_features, where)
    return Batch(
        indptr=indptr, indices=indices, counts=counts, doc_ids=doc_ids, n_features=n_features
    )


def short_message(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def _check_values(indptr, indices, counts, n_features: int, where: str) -> None:
    if indices.size:
        if int(indices.min()) < 0 or int(indices.max()) >= n_features:
            raise CorpusError(
                f"{where}: token ids must lie in [0, {n_features}); found "
                f"[{int(indices.min())}, {int(indices.max())}]. {_FIX}"
            )
        if int(counts.min()) <= 0:
            raise CorpusError(f"{where}: counts must be positive; found {int(counts.min())}")
        # Sorted and unique within each row: every step is positive except at row starts.
        step = np.diff(indices.astype(np.int64))
        starts = indptr[1:-1]
        bad = step <= 0
        bad[starts[(starts > 0) & (starts < len(indices))] - 1] = False
        if bad.any():
            pos = int(np.flatnonzero(bad)[0]) + 1
            row = int(np.searchsorted(indptr, pos, side="right")) - 1
            raise CorpusError(
                f"{where}: token_ids of row {row} must be sorted ascending and unique. {_FIX}"
            )

