"""Reading a corpus folder: validation on open, the units it holds, minibatch plans.

A unit (one row group) is read by :func:`svi_lda.corpus.units.read_unit`, re-exported
here and by :mod:`svi_lda.corpus`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
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
    META_VOCAB_SHA,
    VOCABULARY,
    CorpusError,
    file_sha256,
    row_group_ranges,
    sha256_range,
)
from svi_lda.corpus.units import FIX as _FIX
from svi_lda.corpus.units import CorpusUnit, read_unit
from svi_lda.corpus.units import short_message as _short
from svi_lda.persistence.manifest import content_checksum, sha256_bytes
from svi_lda.text.vocabulary import Vocabulary

__all__ = ["CorpusUnit", "ParquetCorpus", "plan_minibatches", "read_unit"]


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
