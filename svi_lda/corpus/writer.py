"""Writing a whole corpus folder from CSR chunks (used by the conversions), and the
shared last step of every writer: vocabulary, rejects, then the manifest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from svi_lda import storage
from svi_lda.corpus.format import (
    DEFAULT_ROW_GROUP_SIZE,
    VOCABULARY,
    PartWriter,
    check_remote_out,
    csr_to_table,
    final_dir,
    part_name,
    part_schema,
    prepare_out_dir,
    publish_corpus,
    write_manifest,
)
from svi_lda.text.tokenizer import Tokenizer
from svi_lda.text.vocabulary import Vocabulary, vocabulary_sha256


def finish_corpus(
    out_dir: str | os.PathLike,
    vocabulary: Vocabulary,
    files: list[dict[str, Any]],
    *,
    n_tokens: int,
    source: dict[str, Any],
    counts: dict[str, int],
    extra: dict[str, Any] | None = None,
):
    """Write the vocabulary (if not there yet) and then, last, the manifest.

    Returns the opened :class:`~svi_lda.corpus.reader.ParquetCorpus` (which re-validates).
    """
    from svi_lda.corpus.reader import ParquetCorpus

    out_dir = Path(out_dir)
    vpath = out_dir / VOCABULARY
    if not vpath.is_file():
        vocabulary.save(vpath)
    manifest = {
        "n_docs": int(sum(f["n_docs"] for f in files)),
        "n_tokens": int(n_tokens),
        "n_features": len(vocabulary),
        "vocabulary_sha256": vocabulary.sha256,
        "files": files,
        "tokenizer": None if vocabulary.tokenizer is None else vocabulary.tokenizer.to_dict(),
        "source": source,
        "counts": {k: int(v) for k, v in counts.items()},
        **(extra or {}),
    }
    write_manifest(out_dir, manifest)
    return ParquetCorpus(final_dir(out_dir))


class CorpusWriter:
    """Write CSR chunks, in order, into a new corpus folder.

    Part files roll over every ``docs_per_file`` documents (rounded to whole row groups).
    Document and corpus frequencies are counted from what is written, so the vocabulary
    file always describes the corpus it sits in. ``out_dir`` may be an fsspec URL: the
    corpus is then written in a local temporary folder and uploaded by :meth:`close`,
    the manifest last (:func:`~svi_lda.corpus.format.publish_corpus`).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        words: pa.Array | list[str],
        *,
        row_group_size: int = DEFAULT_ROW_GROUP_SIZE,
        docs_per_file: int = 1 << 20,
        overwrite: bool = False,
    ) -> None:
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1; got {row_group_size}")
        self._remote: str | None = None
        if storage.is_remote(out_dir):
            self._remote = str(storage.location(out_dir))
            check_remote_out(self._remote, overwrite)
            out_dir = tempfile.mkdtemp(prefix="svi-lda-corpus-")
            # The staging folder goes when the writer does, whether close() ran or not.
            self._drop_staging = weakref.finalize(self, shutil.rmtree, out_dir, True)
        self.out_dir = prepare_out_dir(out_dir, overwrite=overwrite)
        self.words = words if isinstance(words, pa.Array) else pa.array(words, pa.large_string())
        self.n_features = len(self.words)
        self.row_group_size = row_group_size
        self.docs_per_file = max(docs_per_file // row_group_size, 1) * row_group_size
        self.schema = part_schema(self.n_features, vocabulary_sha256(self.words))
        self.df = np.zeros(self.n_features, dtype=np.int64)
        self.cf = np.zeros(self.n_features, dtype=np.int64)
        self.n_tokens = 0
        self.files: list[dict[str, Any]] = []
        self._part: PartWriter | None = None

    def add(
        self, indptr: np.ndarray, indices: np.ndarray, counts: np.ndarray, doc_ids: np.ndarray
    ) -> None:
        """Append documents: CSR with ``indptr[0] == 0``, sorted unique ids, positive counts."""
        indices = np.asarray(indices)
        counts = np.asarray(counts)
        if indices.size:
            self.df += np.bincount(indices, minlength=self.n_features)
            self.cf += np.bincount(indices, weights=counts, minlength=self.n_features).astype(
                np.int64
            )
            self.n_tokens += int(counts.sum(dtype=np.int64))
        n = len(indptr) - 1
        start = 0
        while start < n:
            if self._part is None:
                self._part = PartWriter(
                    self.out_dir / part_name(len(self.files)), self.schema, self.row_group_size
                )
            take = min(n - start, self.docs_per_file - self._part.n_docs)
            stop = start + take
            a, b = int(indptr[start]), int(indptr[stop])
            self._part.write(
                csr_to_table(
                    indptr[start : stop + 1] - a,
                    indices[a:b],
                    counts[a:b],
                    doc_ids[start:stop],
                    self.schema,
                )
            )
            start = stop
            if self._part.n_docs >= self.docs_per_file:
                self._close_part()

    def _close_part(self) -> None:
        part, self._part = self._part, None
        if part is not None and part.n_docs:
            part.close()
            self.files.append(part.entry())

    def close(
        self,
        *,
        tokenizer: Tokenizer | None = None,
        source: dict[str, Any] | None = None,
        counts: dict[str, int] | None = None,
    ):
        """Finish the last part, write vocabulary and manifest; returns the ParquetCorpus."""
        self._close_part()
        vocab = Vocabulary(self.words, self.df, self.cf, tokenizer=tokenizer)
        n_docs = sum(f["n_docs"] for f in self.files)
        base = {"read": n_docs, "written": n_docs, "empty": 0, "rejected": 0}
        corpus = finish_corpus(
            self.out_dir,
            vocab,
            self.files,
            n_tokens=self.n_tokens,
            source=source or {},
            counts={**base, **(counts or {})},
        )
        if self._remote is None:
            return corpus
        from svi_lda.corpus.reader import ParquetCorpus

        publish_corpus(Path(self.out_dir), self._remote)
        self._drop_staging()
        return ParquetCorpus(self._remote)
