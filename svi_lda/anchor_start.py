"""``init="anchors"``: SCVB0's topics start from anchor-word recovery (Arora et al. 2013).

Before the first step, ``fit`` reads the first ``ANCHOR_SAMPLE_DOCS`` documents of its
first pass (the first minibatches of the pass, in order), and recovers K topics over the
``ANCHOR_ROWS`` words of highest document frequency in them from their co-occurrence
with the ``ANCHOR_WORDS`` most frequent (:func:`svi_lda.numerics.anchors.anchor_topics`:
rows over marginals, anchors searched on the topics' span, RecoverL2). The expected
counts then start at the corpus's estimated token total ``T = D x mean document
length``:

- a word with a row: ``N_phi[w, k] = T p(w, z = k)`` (``p(w, z)`` recovered);
- any other word: ``N_phi[w, k] = T p(w) p(z = k)``: its mass, no topic preference.

For one pass, ``learning_offset=100, learning_decay=1.0`` (kappa 1: the pass averages
its minibatches, the start weighted as 100 of them) is the measured recipe; it is not
applied by itself (on a small corpus or over several passes the usual schedule did
better). Measured in
``benchmarks/results/scvb0.md`` (round 4), 1,000,000 documents drawn from a K=100 model,
start and one pass: held-out perplexity 2,122 (default start: 2,526; truth 1,942), NPMI
0.277 (0.245; truth 0.296), topic recovery distance 0.198 (0.365), in 1.67x SVI's
one-pass time. One SCVB0 pass from the true topics themselves ends at perplexity 2,235
with the default schedule: the schedule, not only the start, decides the one-pass
quality. On 200,000 documents the round-3 start helped less than the default start
(perplexity 2,446 against 2,346; this round's start was not measured there), so it is
not the default.

Memory: the sample is held while the start is computed, as a float64 CSR matrix plus
copies of its row words' columns, about 16-24 bytes per non-zero (measured in round 3:
+99 MB peak over init="documents" for 6.3M non-zeros; the benchmark's 1M documents,
100.8M non-zeros, need about 2 GB), on top of the co-occurrence matrix (6,000 x 3,000
float64: 144 MB).

Only ``fit`` on a matrix or a corpus folder has the sample before its first step;
``partial_fit``, streams, iterators and the Dask engines refuse it (see
:func:`check_anchor_sample`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp

from svi_lda.numerics.anchors import anchor_topics
from svi_lda.state import GlobalState

ANCHOR_SAMPLE_DOCS = 1_000_000
"""Documents of the co-occurrence sample: 200,000 was too few on the benchmark corpus
(the anchors of about 40 of 100 topics were duplicates), 1,000,000 found 90."""

ANCHOR_WORDS = 3_000
"""Words of highest document frequency that are the co-occurrence's columns."""

ANCHOR_ROWS = 6_000
"""Words of highest document frequency that get a row of the co-occurrence (over the
``ANCHOR_WORDS`` columns): rarer words are the only anchors of rare topics; their rows
cost in proportion to their occurrences (memory 6,000 x 3,000 float64: 144 MB). Measured
at 1M documents (round 4): 93 of 100 true topics get an anchor, against 90 from the
3,000 x 3,000 co-occurrence, whose rows hold no anchor at all for the other rare
topics."""

RECOVER_ITERATIONS = 200

FEW_DOCUMENTS = 200_000
"""Below this many sampled documents the start gets a warning: at 200,000 its topics
recovered the true ones worse than the default start (round 4), and on a few thousand
documents some of its topics are single frequent words."""

ANCHORS_NEED_A_SAMPLE = (
    "init='anchors' needs a sample of the corpus before the first step, which only fit "
    "on a matrix or a corpus folder has (partial_fit, streams, iterators, "
    "fit_in_process, svi-lda train and the Dask engines see one minibatch at a time); "
    "use the default init='documents' there"
)


def check_anchor_sample(model: Any, has_sample: bool) -> None:
    """Raise the one-line refusal when ``model.init == "anchors"`` without a sample."""
    if getattr(model, "init", None) == "anchors" and not has_sample:
        raise ValueError(ANCHORS_NEED_A_SAMPLE)


def first_documents(batches: Iterable[Any], n_docs: int) -> sp.csr_matrix:
    """The first ``n_docs`` documents of ``batches`` (Batch objects, in order), as CSR."""
    parts, seen = [], 0
    for batch in batches:
        X = batch.to_csr()
        parts.append(X[: n_docs - seen] if seen + X.shape[0] > n_docs else X)
        seen += parts[-1].shape[0]
        if seen >= n_docs:
            break
    if not parts:
        raise ValueError("init='anchors' found no documents to sample")
    return sp.vstack(parts, format="csr")


def anchor_start(
    state: GlobalState,
    sample: sp.csr_matrix,
    *,
    total_samples: float,
    seed: int,
    n_words: int = ANCHOR_WORDS,
    n_rows: int = ANCHOR_ROWS,
    n_threads: int = 1,
) -> None:
    """Set ``state``'s expected counts to the anchor-word start from ``sample``.

    Parameters
    ----------
    state : GlobalState
        Its ``word_topic`` (V x K) is overwritten (``scale`` 1, ``topic_sums`` updated).
    sample : scipy.sparse.csr_matrix
        The sampled documents (n, V) of counts.
    total_samples : float
        D, the corpus size in documents the counts stand for.
    seed : int
        Seeds the random projection of the anchor search.
    n_words : int
        The words of highest document frequency the co-occurrence is taken over.
    n_rows : int
        The words of highest document frequency (``>= n_words``) whose topics are
        recovered (and that may be anchors).
    n_threads : int
        Threads of the co-occurrence kernel (the result does not depend on them).
    """
    n_topics = state.n_components
    if sample.shape[0] < FEW_DOCUMENTS:
        warnings.warn(
            f"init='anchors' on {sample.shape[0]:,} documents: the anchor start was "
            f"measured to help from about 1,000,000 documents; at {FEW_DOCUMENTS:,} it "
            "recovered the topics worse than the default start, and on small samples some "
            "of its topics are single frequent words", UserWarning, stacklevel=5,
        )
    sample = sp.csr_matrix(sample, dtype=np.float64)
    doc_freq = np.bincount(sample.indices[sample.data > 0], minlength=sample.shape[1])
    ranked = np.argsort(-doc_freq, kind="stable")
    # The column words first, then the rarer words that only get rows (both sorted).
    words = np.concatenate((np.sort(ranked[:n_words]), np.sort(ranked[n_words:n_rows])))
    topics, topic_share = anchor_topics(
        sample[:, words], n_topics, seed=seed, n_columns=min(n_words, len(words)),
        n_threads=n_threads, iterations=RECOVER_ITERATIONS,
    )
    word_tokens = np.asarray(sample.sum(axis=0)).ravel()
    tokens = float(word_tokens.sum())
    if tokens <= 0:
        raise ValueError("init='anchors': the sampled documents have no tokens")
    total = float(total_samples) * tokens / sample.shape[0]
    p_word = word_tokens / tokens
    counts = total * np.outer(p_word, topic_share)
    counts[words] = total * p_word[words].sum() * (topic_share[:, None] * topics).T
    state.word_topic = counts.astype(state.word_topic.dtype)
    state.scale = 1.0
    state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)
