"""Example documents for each topic: the documents with the largest share of it.

One streaming pass over a corpus folder's row groups: each row group is read, its
documents' topic proportions inferred with the model (E-step, model unchanged), and each
topic's best ``n_docs`` so far kept. Memory is bounded by the row group and
K x ``n_docs`` candidates, never by the corpus.
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
) -> list[list[ExampleDocument]]:
    """For each topic, the ``n_docs`` documents of ``corpus`` with the largest share of it.

    Ties are broken by the smaller document id, so the result does not depend on the order
    of the row groups.

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

    Returns
    -------
    list (one per topic) of lists of ExampleDocument, best first.
    """
    check_corpus_matches(model, corpus)
    n_topics = model.n_components
    beta = np.asarray(model.get_topics(), dtype=np.float64)
    vocab_words = list(corpus.vocabulary.words)
    fields = _text_fields(corpus)
    best_share = np.full((n_topics, 0), -1.0)
    best_doc = np.zeros((n_topics, 0), dtype=np.int64)
    kept: dict[tuple[int, int], ExampleDocument] = {}  # (topic, doc_id) -> example
    for unit in corpus.units:
        batch = corpus.read_unit(unit)
        if batch.n_docs == 0:
            continue
        theta = model.transform(batch)
        take = min(n_docs, batch.n_docs)
        # Per topic, this row group's best documents (by share, then smaller id).
        order = np.lexsort((np.broadcast_to(batch.doc_ids, theta.T.shape), -theta.T))
        rows = order[:, :take]
        shares = np.take_along_axis(theta.T, rows, axis=1)
        docs = np.asarray(batch.doc_ids)[rows]
        all_share = np.concatenate([best_share, shares], axis=1)
        all_doc = np.concatenate([best_doc, docs], axis=1)
        merged = np.lexsort((all_doc, -all_share))[:, :n_docs]
        best_share = np.take_along_axis(all_share, merged, axis=1)
        best_doc = np.take_along_axis(all_doc, merged, axis=1)
        winners = merged >= all_share.shape[1] - take  # columns from this row group
        if not winners.any():
            continue
        texts = _read_fields(corpus, unit, fields)
        for k, col in zip(*np.nonzero(winners), strict=True):
            row = int(rows[k, merged[k, col] - (all_share.shape[1] - take)])
            kept[(int(k), int(batch.doc_ids[row]))] = _example(
                batch, row, float(theta[row, k]), beta[k], vocab_words, n_words,
                {f: _cut(texts[f][row], text_chars) for f in fields},
            )
        live = {(k, int(d)) for k in range(n_topics) for d in best_doc[k]}
        kept = {key: ex for key, ex in kept.items() if key in live}
    logger.info("example documents: %d row groups read from %s", len(corpus.units), corpus.path)
    return [[kept[(k, int(d))] for d in best_doc[k]] for k in range(n_topics)]


def _read_fields(corpus: ParquetCorpus, unit: Any, fields: list[str]) -> dict[str, list]:
    if not fields:
        return {}
    with storage.open_parquet(storage.join(corpus.path, unit.file), unit.row_group) as fh:
        table = pq.ParquetFile(fh).read_row_group(unit.row_group, fields)
    return {f: table.column(f).to_pylist() for f in fields}


def _cut(text: str | None, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _example(
    batch: Any, row: int, share: float, topic: np.ndarray, vocab_words: list[str],
    n_words: int, fields: dict[str, str],
) -> ExampleDocument:
    lo, hi = int(batch.indptr[row]), int(batch.indptr[row + 1])
    ids = np.asarray(batch.indices[lo:hi], dtype=np.int64)
    counts = np.asarray(batch.counts[lo:hi], dtype=np.float64)
    order = np.lexsort((ids, -(counts * topic[ids])))[:n_words]
    return ExampleDocument(
        doc_id=int(batch.doc_ids[row]),
        share=share,
        n_tokens=int(counts.sum()),
        words=[(vocab_words[ids[i]], int(counts[i])) for i in order],
        fields=fields,
    )
