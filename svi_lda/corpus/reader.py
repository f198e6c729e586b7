"""Reading a corpus folder: validation on open, row groups as units, minibatch plans.

:func:`read_unit` is what a Dask worker calls: it opens one part file, reads one row
group and hands back a :class:`~svi_lda.batch.Batch` whose arrays are views of the Arrow
buffers (no copy; the arrays are read-only).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from svi_lda import storage
from svi_lda.batch import Batch
from svi_lda.corpus.format import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    META_N_FEATURES,
    META_VOCAB_SHA,
    VOCABULARY,
    CorpusError,
    file_sha256,
    row_group_ranges,
    sha256_range,
)
from svi_lda.persistence.manifest import content_checksum, sha256_bytes
from svi_lda.text.vocabulary import Vocabulary

_FIX = "re-run `svi-lda ingest` (or the conversion) into an empty folder"


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
        raise CorpusError(f"cannot open part file {path}: {_short(exc)}. {_FIX}") from None
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
        raise CorpusError(f"cannot open part file {path}: {_short(exc)}. {_FIX}") from None
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
        raise CorpusError(f"{where} cannot be decoded: {_short(exc)}. {_FIX}") from None
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


def _short(exc: BaseException) -> str:
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


def _check_entry(entry: Any, where: str) -> None:
    """A manifest's file entry: a plain file name, row-group sizes, optional checksums."""
    if not isinstance(entry, dict):
        raise CorpusError(f"{where} is not an object. {_FIX}")
    name = entry.get("path")
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name in (
        ".", ".."
    ):
        raise CorpusError(f"{where} has no valid \"path\" (a file name in the folder). {_FIX}")
    groups = entry.get("row_groups")
    if not isinstance(groups, list) or not all(type(n) is int and n >= 0 for n in groups):
        raise CorpusError(f"{where} ({name}): \"row_groups\" must be a list of sizes. {_FIX}")
    for key in ("footer_sha256",):
        if key in entry and not isinstance(entry[key], str):
            raise CorpusError(f"{where} ({name}): {key!r} must be a string. {_FIX}")
    if "size" in entry and type(entry["size"]) is not int:
        raise CorpusError(f"{where} ({name}): 'size' must be an int. {_FIX}")


def plan_minibatches(
    units: Sequence[CorpusUnit], batch_size: int, *, epoch: int = 0, seed: int | None = None
) -> list[list[CorpusUnit]]:
    """Group units into minibatches of at least ``batch_size`` documents.

    If ``seed`` is not None the units are first permuted with
    ``np.random.default_rng([seed, epoch]).permutation``. Consecutive units are then
    taken greedily until a group holds ``>= batch_size`` documents (whole units only;
    the last group may be smaller). The plan depends only on its arguments, never on the
    number of workers, which is what lets the in-process and Dask engines agree.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")
    units = list(units)
    if seed is not None:
        order = np.random.default_rng([seed, epoch]).permutation(len(units))
        units = [units[i] for i in order]
    plan: list[list[CorpusUnit]] = []
    group: list[CorpusUnit] = []
    n = 0
    for u in units:
        group.append(u)
        n += u.n_docs
        if n >= batch_size:
            plan.append(group)
            group, n = [], 0
    if group:
        plan.append(group)
    return plan


class ParquetCorpus:
    """A corpus folder, validated on open.

    Parameters
    ----------
    path : path or str
        Folder written by ``svi-lda ingest`` or a conversion function: a local path or an
        fsspec URL (``s3://bucket/corpus``; see :mod:`svi_lda.storage`).

    Attributes
    ----------
    path : Path or str
        The folder: a Path when local, the URL when remote.
    n_docs, n_tokens, n_features : int
    vocabulary : Vocabulary
    manifest : dict
    units : list of CorpusUnit
        Files in manifest order, row groups ascending.

    Raises
    ------
    CorpusError
        If the manifest is missing or of another format/version, the vocabulary is missing
        or does not match the manifest's hash, or a part file is missing or its row groups
        differ from the manifest.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = storage.location(path)
        self.manifest = self._read_manifest()
        m = self.manifest
        self.vocabulary = self._read_vocabulary(m)
        self.n_docs = int(m["n_docs"])
        self.n_tokens = int(m["n_tokens"])
        self.n_features = int(m["n_features"])
        if self.n_features != len(self.vocabulary):
            raise CorpusError(
                f"{storage.join(self.path, VOCABULARY)} has {len(self.vocabulary)} words; "
                f"the manifest says n_features={self.n_features}. {_FIX}"
            )
        self.units = self._check_parts(m)
        total = sum(u.n_docs for u in self.units)
        if total != self.n_docs:
            raise CorpusError(
                f"{storage.join(self.path, MANIFEST)}: n_docs={self.n_docs} but its files "
                f"hold {total}. {_FIX}"
            )

    def _read_manifest(self) -> dict[str, Any]:
        mpath = storage.join(self.path, MANIFEST)
        if isinstance(self.path, Path) and not self.path.is_dir():
            raise CorpusError(f"corpus folder {self.path} does not exist")
        try:
            data = storage.read_bytes(mpath)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise CorpusError(
                f"{mpath} is missing: {self.path} is not a finished corpus (the manifest is "
                f"written last, so an interrupted ingest leaves none). {_FIX}"
            ) from None
        except (OSError, ValueError) as exc:  # a store refusing access; an unknown protocol
            raise CorpusError(f"{mpath} cannot be read: {_short(exc)}") from None
        try:
            m = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{mpath} is not valid JSON: {exc}. {_FIX}") from exc
        if not isinstance(m, dict) or m.get("format") != FORMAT:
            raise CorpusError(f"{mpath}: not an svi-lda corpus manifest (format != {FORMAT!r})")
        if m.get("format_version") != FORMAT_VERSION:
            raise CorpusError(
                f"{mpath}: format_version {m.get('format_version')!r} is not supported by this "
                f"svi-lda (reads version {FORMAT_VERSION}); upgrade svi-lda or re-ingest"
            )
        missing = [
            k
            for k in ("n_docs", "n_tokens", "n_features", "vocabulary_sha256", "files")
            if k not in m
        ]
        if missing:
            raise CorpusError(f"{mpath}: missing fields {missing}. {_FIX}")
        if "content_sha256" in m and m["content_sha256"] != content_checksum(m):
            raise CorpusError(
                f"{mpath} does not match its content_sha256: the file is corrupt or was "
                f"edited. {_FIX}"
            )
        for k in ("n_docs", "n_tokens", "n_features"):
            if type(m[k]) is not int or m[k] < 0:
                raise CorpusError(f"{mpath}: field {k!r} must be an int >= 0. {_FIX}")
        if not isinstance(m["vocabulary_sha256"], str) or not isinstance(m["files"], list):
            raise CorpusError(f"{mpath}: fields vocabulary_sha256/files are malformed. {_FIX}")
        for i, entry in enumerate(m["files"]):
            _check_entry(entry, f"{mpath}, files[{i}]")
        return m

    def _read_vocabulary(self, m: dict[str, Any]) -> Vocabulary:
        vpath = storage.join(self.path, VOCABULARY)
        if not storage.is_file(vpath):
            raise CorpusError(f"{vpath} is missing; the corpus cannot be used without it. {_FIX}")
        if isinstance(vpath, Path):
            digest, read = file_sha256(vpath), lambda: Vocabulary.load(vpath)
        else:
            data = storage.read_bytes(vpath)
            digest = sha256_bytes(data)
            def read() -> Vocabulary:  # noqa: E306 - the remote counterpart of load
                table = pq.read_table(pa.BufferReader(data))
                return Vocabulary.from_table(table, source=str(vpath))
        expected = m.get("vocabulary_file_sha256")
        if expected is not None and digest != expected:
            raise CorpusError(
                f"{vpath} does not match its checksum in {storage.join(self.path, MANIFEST)}: "
                f"the file is corrupt or was replaced. {_FIX}"
            )
        try:
            vocab = read()
        except Exception as exc:  # noqa: BLE001 - whatever a corrupt file triggers
            raise CorpusError(f"{vpath}: {_short(exc)}. {_FIX}") from None
        if vocab.sha256 != m["vocabulary_sha256"]:
            raise CorpusError(
                f"{vpath} does not match {storage.join(self.path, MANIFEST)}: vocabulary hash "
                f"{vocab.sha256[:12]}... != {str(m['vocabulary_sha256'])[:12]}... "
                f"(was the vocabulary replaced?). {_FIX}"
            )
        return vocab

    def _check_parts(self, m: dict[str, Any]) -> list[CorpusUnit]:
        units: list[CorpusUnit] = []
        for entry in m["files"]:
            fpath = storage.join(self.path, entry["path"])
            try:
                size = storage.file_size(fpath)
            except (FileNotFoundError, IsADirectoryError):
                size = None
            if size is None or not storage.is_file(fpath):
                raise CorpusError(f"part file {fpath} listed in the manifest is missing. {_FIX}")
            if "size" in entry and size != entry["size"]:
                raise CorpusError(
                    f"part file {fpath} has {size} bytes; the manifest says "
                    f"{entry['size']}: the file is truncated or was replaced. {_FIX}"
                )
            try:
                with storage.open_parquet(fpath) as fh:
                    pf = pq.ParquetFile(fh)
                    meta, schema = pf.metadata, pf.schema_arrow
            # A damaged footer can also surface as a UnicodeDecodeError (a ValueError)
            # from pyarrow's Python side, when it decodes the column paths.
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise CorpusError(
                    f"part file {fpath} is not readable Parquet: {_short(exc)}. {_FIX}"
                ) from None
            hashes = self._check_part_checksums(fpath, meta, entry, size)
            sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
            if sizes != list(entry["row_groups"]):
                raise CorpusError(
                    f"part file {fpath} has row groups of {sizes[:8]} documents"
                    f" (first 8); the manifest says {list(entry['row_groups'])[:8]}. "
                    f"The file was replaced or the manifest is stale. {_FIX}"
                )
            sha = (schema.metadata or {}).get(META_VOCAB_SHA, b"").decode()
            if sha != m["vocabulary_sha256"]:
                raise CorpusError(
                    f"part file {fpath} was written for another vocabulary "
                    f"({sha[:12] or 'none'}... != {m['vocabulary_sha256'][:12]}...). {_FIX}"
                )
            units.extend(
                CorpusUnit(entry["path"], i, n, hashes[i] if hashes else None)
                for i, n in enumerate(sizes)
            )
        return units

    @staticmethod
    def _check_part_checksums(
        fpath: storage.Location, meta: Any, entry: dict[str, Any], size: int
    ) -> list | None:
        """Check the file's footer against the manifest; the row groups' hashes (checked
        as each row group is read), or None for a corpus written without checksums."""
        if "footer_sha256" not in entry:
            return None
        ranges = row_group_ranges(meta)
        hashes = entry.get("row_group_sha256")
        footer_start = max([4, *(stop for _, stop in ranges)])
        with storage.open_read(fpath) as fh:
            head = fh.read(4)
            footer = sha256_range(fh, footer_start, size)
        if head != b"PAR1" or footer != entry["footer_sha256"]:
            raise CorpusError(
                f"part file {fpath} does not match its checksum in the manifest (footer): "
                f"the file is corrupt. {_FIX}"
            )
        if not isinstance(hashes, list) or len(hashes) != len(ranges):
            raise CorpusError(f"{fpath}: the manifest's row_group_sha256 is malformed. {_FIX}")
        return hashes

    def __repr__(self) -> str:
        return (
            f"ParquetCorpus({str(self.path)!r}: {self.n_docs} docs, {self.n_tokens} tokens, "
            f"{self.n_features} words, {len(self.units)} units)"
        )

    def __len__(self) -> int:
        return self.n_docs

    def verify(self) -> int:
        """Check every row group against its checksum in the manifest (reads the whole
        corpus once, about a second per GB); returns the number of row groups checked.

        Raises
        ------
        CorpusError
            Naming the file and row group of the first mismatch.
        """
        checked = 0
        by_file: dict[str, list[CorpusUnit]] = {}
        for unit in self.units:
            if unit.sha256 is not None:
                by_file.setdefault(unit.file, []).append(unit)
        for file, units in by_file.items():
            path = storage.join(self.path, file)
            with storage.open_parquet(path) as fh:
                ranges = row_group_ranges(pq.ParquetFile(fh).metadata)
            with storage.open_read(path) as fh:
                for unit in units:
                    if sha256_range(fh, *ranges[unit.row_group]) != unit.sha256:
                        raise CorpusError(
                            f"row group {unit.row_group} of {path} does not match its checksum "
                            f"in the manifest: the file is corrupt. {_FIX}"
                        )
                    checked += 1
        return checked

    def read_unit(self, unit: CorpusUnit, *, with_counts: bool = True) -> Batch:
        """Read one unit as a :class:`Batch` (see module-level :func:`read_unit`)."""
        return read_unit(self.path, unit, n_features=self.n_features, with_counts=with_counts)

    def iter_batches(self, units: Sequence[CorpusUnit] | None = None):
        """Yield one :class:`Batch` per unit, in order (all units by default)."""
        for u in self.units if units is None else units:
            yield self.read_unit(u)

    def to_csr(self):
        """The whole corpus as one ``scipy.sparse.csr_matrix`` (for small corpora/tests)."""
        from svi_lda.batch import concat_batches

        if not self.units:
            import scipy.sparse as sp

            return sp.csr_matrix((0, self.n_features))
        return concat_batches(list(self.iter_batches())).to_csr()

    def doc_ids(self) -> np.ndarray:
        """All document ids in unit order."""
        parts = []
        for u in self.units:
            with storage.open_parquet(storage.join(self.path, u.file), u.row_group) as fh:
                table = pq.ParquetFile(fh).read_row_group(u.row_group, ["doc_id"])
            parts.append(table.column(0).to_numpy())
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
