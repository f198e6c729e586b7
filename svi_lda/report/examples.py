"""Example documents for each topic: the documents with the largest share of it.

Two streaming passes over a corpus folder's row groups, in process or on a Dask cluster
(one task per row group, results merged in row-group order, so the result is the same):

1. each row group is read, its documents' topic proportions inferred with the model
   (E-step, model unchanged) and each topic's best ``n_docs`` of the row group returned;
   the client keeps each topic's best ``n_docs`` so far;
2. the row groups holding the final choices (at most K x ``n_docs`` of them) are read
   again to describe those documents (their best words and kept text fields).

Memory is bounded by the row group and K x ``n_docs`` candidates, never by the corpus.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from svi_lda import storage
from svi_lda.corpus import ParquetCorpus
from svi_lda.corpus.format import BASE_FIELDS
from svi_lda.evaluation.cluster import CorpusOnDisk, map_units_in_order

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExampleDocument:
    """One document shown under a topic.

    Attributes
    ----------
    doc_id : int
        The corpus's document id.
    share : float
        E_q[theta_dk], the topic's share of the document.
    n_tokens : int
        Tokens in the document (after ingest's pruning).
    words : list of (str, int)
        The document's words that the topic explains best (count x topic probability),
        with their counts.
    fields : dict of str to str
        Text fields kept by ingest (``--keep``), truncated.
    """

    doc_id: int
    share: float
    n_tokens: int
    words: list[tuple[str, int]]
    fields: dict[str, str]


def check_corpus_matches(model: Any, corpus: ParquetCorpus) -> None:
    """Raise ValueError, naming the corpus folder, when its vocabulary is not the model's."""
    if corpus.n_features != model.n_features_in_:
        raise ValueError(
            f"corpus {corpus.path} has {corpus.n_features} words but the model has "
            f"{model.n_features_in_}: pass the corpus the model was trained on."
        )
    vocab = getattr(model, "vocabulary_", None)
    sha = getattr(vocab, "sha256", None)
    if sha is not None and sha != corpus.vocabulary.sha256:
        raise ValueError(
            f"corpus {corpus.path} has another vocabulary than the model "
            f"({corpus.vocabulary.sha256[:12]}... != {sha[:12]}...): pass the corpus the "
            "model was trained on."
        )


def _text_fields(corpus: ParquetCorpus) -> list[str]:
    if not corpus.units:
        return []
    with storage.open_parquet(storage.join(corpus.path, corpus.units[0].file)) as fh:
        schema = pq.ParquetFile(fh).schema_arrow
    base = {f.name for f in BASE_FIELDS}
    return [
        f.name for f in schema
        if f.name not in base and str(f.type) in ("string", "large_string")
    ]


def top_documents(
    model: Any,
    corpus: ParquetCorpus,
    *,
    n_docs: int = 3,
    n_words: int = 8,
    text_chars: int = 300,
    client: Any = None,
) -> list[list[ExampleDocument]]:
    """For each topic, the ``n_docs`` documents of ``corpus`` with the largest share of it.

    Ties are broken by the smaller document id, so the result does not depend on the order
    of the row groups, nor on whether a cluster computed it.

    Parameters
    ----------
    model : OnlineLDA
        A fitted model whose vocabulary is the corpus's.
    corpus : ParquetCorpus
    n_docs : int
        Documents per topic.
    n_words : int
        Words listed per document.
    text_chars : int
        Kept text fields are cut to this many characters.
    client : distributed.Client, optional
        Infer and describe each row group on this cluster (its workers must see the
        corpus folder); by default in this process.

    Returns
    -------
    list (one per topic) of lists of ExampleDocument, best first.
    """
    check_corpus_matches(model, corpus)
    n_topics = model.n_components
    reader = CorpusOnDisk.of(corpus, "top_documents")
    units = list(corpus.units)
    if client is None:
        found = (_unit_candidates(u, reader, model, n_docs) for u in units)
    else:
        found = map_units_in_order(client, _unit_candidates, units, reader, model, n_docs)
    best_share = np.full((n_topics, 0), -1.0)
    best_doc = np.zeros((n_topics, 0), dtype=np.int64)
    best_unit = np.zeros((n_topics, 0), dtype=np.int64)
    best_row = np.zeros((n_topics, 0), dtype=np.int64)
    for u, (shares, docs, rows) in enumerate(found):  # row-group order
        all_share = np.concatenate([best_share, shares], axis=1)
        all_doc = np.concatenate([best_doc, docs], axis=1)
        all_unit = np.concatenate([best_unit, np.full(rows.shape, u, dtype=np.int64)], axis=1)
        all_row = np.concatenate([best_row, rows], axis=1)
        merged = np.lexsort((all_doc, -all_share))[:, :n_docs]
        best_share, best_doc, best_unit, best_row = (
            np.take_along_axis(a, merged, axis=1)
            for a in (all_share, all_doc, all_unit, all_row)
        )
    # Pass 2: describe the chosen documents, row group by row group.
    wanted: dict[int, list[tuple[int, int, float]]] = {}
    for k in range(n_topics):
        for j in range(best_doc.shape[1]):
            wanted.setdefault(int(best_unit[k, j]), []).append(
                (k, int(best_row[k, j]), float(best_share[k, j]))
            )
    chosen = sorted(wanted)
    spec = _DescribeSpec(np.asarray(model.get_topics(), dtype=np.float64), n_words, text_chars,
                         _text_fields(corpus))
    requests = [(units[u], wanted[u]) for u in chosen]
    if client is None:
        described = (_describe_unit(r, reader, spec) for r in requests)
    else:
        described = map_units_in_order(client, _describe_unit, requests, reader, spec)
    vocab_words = corpus.vocabulary.words
    kept: dict[tuple[int, int], ExampleDocument] = {}
    for found_docs in described:
        for k, doc_id, share, n_tokens, word_counts, fields in found_docs:
            kept[(k, doc_id)] = ExampleDocument(
                doc_id=doc_id, share=share, n_tokens=n_tokens,
                words=[(str(vocab_words[w]), c) for w, c in word_counts], fields=fields,
            )
    logger.info("example documents: %d row groups read, %d again, from %s",
                len(units), len(chosen), corpus.path)
    return [[kept[(k, int(d))] for d in best_doc[k]] for k in range(n_topics)]


@dataclass(frozen=True)
class _DescribeSpec:
    """What pass 2 needs besides the row group: topics, words listed, text fields."""

    topics: np.ndarray
    n_words: int
    text_chars: int
    fields: list[str]


def _unit_candidates(
    unit: Any, reader: CorpusOnDisk, model: Any, n_docs: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 1 on one row group: (shares, doc ids, rows), each (K, take), of each topic's
    best ``take = min(n_docs, documents)`` documents, by share then smaller id."""
    batch = reader.read(unit)
    n_topics = model.n_components
    if batch.n_docs == 0:
        empty = np.zeros((n_topics, 0), dtype=np.int64)
        return np.zeros((n_topics, 0)), empty, empty
    theta = np.asarray(model.transform(batch), dtype=np.float64)
    take = min(n_docs, batch.n_docs)
    order = np.lexsort((np.broadcast_to(batch.doc_ids, theta.T.shape), -theta.T))
    rows = order[:, :take].astype(np.int64)
    shares = np.take_along_axis(theta.T, rows, axis=1)
    docs = np.asarray(batch.doc_ids, dtype=np.int64)[rows]
    return shares, docs, rows


def _describe_unit(
    request: tuple[Any, list[tuple[int, int, float]]], reader: CorpusOnDisk,
    spec: _DescribeSpec,
) -> list[tuple[int, int, float, int, list[tuple[int, int]], dict[str, str]]]:
    """Pass 2 on one row group: for each (topic, row, share) asked, (topic, doc id, share,
    tokens, best (word id, count) pairs, cut text fields)."""
    unit, asked = request
    batch = reader.read(unit)
    texts = _read_fields(reader.path, unit, spec.fields)
    out = []
    for k, row, share in asked:
        lo, hi = int(batch.indptr[row]), int(batch.indptr[row + 1])
        ids = np.asarray(batch.indices[lo:hi], dtype=np.int64)
        counts = np.asarray(batch.counts[lo:hi], dtype=np.float64)
        order = np.lexsort((ids, -(counts * spec.topics[k, ids])))[: spec.n_words]
        out.append((
            k, int(batch.doc_ids[row]), share, int(counts.sum()),
            [(int(ids[i]), int(counts[i])) for i in order],
            {f: _cut(texts[f][row], spec.text_chars) for f in spec.fields},
        ))
    return out


def _read_fields(path: str, unit: Any, fields: list[str]) -> dict[str, list]:
    if not fields:
        return {}
    with storage.open_parquet(storage.join(storage.location(path), unit.file),
                              unit.row_group) as fh:
        table = pq.ParquetFile(fh).read_row_group(unit.row_group, fields)
    return {f: table.column(f).to_pylist() for f in fields}


def _cut(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"
