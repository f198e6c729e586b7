"""Export a model to pyLDAvis's input, from the statistics the model keeps.

``pyLDAvis.prepare(**to_pyldavis(model))`` shows a model trained on a stream whose
documents are gone: topics and words come from lambda and the word counts the fit kept;
the document side, which pyLDAvis uses only to size the topics, is rebuilt from the
per-topic counts the fit kept (see :func:`to_pyldavis`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from svi_lda.report.summary import term_frequency, topic_sizes, topic_word, words_of


def to_pyldavis(model: Any, corpus: Any = None) -> dict[str, Any]:
    """The five arguments of ``pyLDAvis.prepare`` for a fitted model.

    Parameters
    ----------
    model : OnlineLDA
        A fitted model.
    corpus : ParquetCorpus or path, optional
        When given, the document side is the corpus's real documents: their topic
        proportions E_q[theta_d] (inferred row group by row group, model unchanged) and
        their lengths, and ``term_frequency`` is counted over the corpus. This holds a
        (n_documents, n_components) array in memory, as pyLDAvis needs.

    Returns
    -------
    dict with keys
        ``topic_term_dists`` : ndarray (n_components, n_features), E_q[beta], rows sum to 1.
        ``doc_topic_dists`` : ndarray (n_documents, n_components), rows sum to 1.
        ``doc_lengths`` : ndarray (n_documents,).
        ``vocab`` : list of str (``"#<id>"`` for a model without a vocabulary).
        ``term_frequency`` : ndarray (n_features,), the count of each word.

    Notes
    -----
    Without a corpus no documents are kept, so the document side is one pseudo-document
    per topic: pseudo-document k pools the documents attributed to topic k during the fit
    (``topic_doc_counts_`` of them, when kept), its topic proportions are all on topic k
    and its length is the number of tokens attributed to topic k
    (``topic_token_counts_``; for a model without it, the expected counts in lambda,
    ``sum_w lambda_kw - eta``). pyLDAvis uses the document side only for the topic sizes,
    ``sum_d doc_lengths[d] * doc_topic_dists[d, k]``, which are then exactly the model's
    tokens per topic. It has no field for document counts, so they do not change its
    display. ``term_frequency`` is the fit's ``term_frequency_``, else the vocabulary's
    corpus frequencies from ingest, else the expected word counts in lambda.
    """
    beta = topic_word(model)
    words = words_of(model)
    if corpus is None:
        sizes, _ = topic_sizes(model)
        tf, _ = term_frequency(model)
        n_topics = model.n_components
        return {
            "topic_term_dists": beta,
            "doc_topic_dists": np.eye(n_topics),
            "doc_lengths": np.asarray(sizes, dtype=np.float64),
            "vocab": words,
            "term_frequency": np.asarray(tf, dtype=np.float64),
        }
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.report.examples import check_corpus_matches

    corpus = corpus if isinstance(corpus, ParquetCorpus) else ParquetCorpus(corpus)
    check_corpus_matches(model, corpus)
    thetas, lengths = [], []
    tf = np.zeros(model.n_features_in_, dtype=np.float64)
    for batch in corpus.iter_batches():
        if batch.n_docs == 0:
            continue
        csr = batch.to_csr()
        thetas.append(model.transform(batch))
        lengths.append(np.asarray(csr.sum(axis=1)).ravel())
        tf += np.asarray(csr.sum(axis=0)).ravel()
    return {
        "topic_term_dists": beta,
        "doc_topic_dists": np.vstack(thetas) if thetas else np.zeros((0, model.n_components)),
        "doc_lengths": np.concatenate(lengths) if lengths else np.zeros(0),
        "vocab": words,
        "term_frequency": tf,
    }
