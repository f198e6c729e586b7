"""The anchor-word start alone, before any SCVB0 step (issue 15): how many true topics its
anchors find, and how far the recovered topics are from the truth over the frequent words.

    python benchmarks/diagnose_anchors.py CORPUS_DOCS SAMPLE_DOCS WORDS MIN_DF [MIN_DF ...]
    python benchmarks/diagnose_anchors.py --population

On the corpus of ``make_lda_corpus.py`` (CORPUS_DOCS documents), the co-occurrence of the
WORDS words of highest document frequency over the first SAMPLE_DOCS documents; for each
MIN_DF (anchor candidates: words in at least that many sampled documents) it prints the
times, the mean Hungarian-matched total-variation distance of the recovered topics to the
true topics restricted to those words (``tv(freq)``) and its 10/50/90% quantiles, the
anchors' purity (their largest true p(z | w)), the number of distinct true topics the
anchors point to, and the anchors' document frequencies.

``--population``: the same recovery from the exact co-occurrence of the true model
(``A E[theta theta^T] A^T``, no sampling noise) for 2,000, 5,000 and all words: whether
the true topics have anchor words at all, and that the algorithm finds them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_lda_corpus import K, load  # noqa: E402
from tune_scvb0 import matched_tv  # noqa: E402


def recovered(qbar: np.ndarray, p_word: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    from svi_lda.numerics.anchors import recover_l2

    joint = recover_l2(qbar, anchors) * p_word[:, None]
    return (joint / joint.sum(axis=0)).T


def describe(anchors, topics, true_sub, purity, doc_freq=None) -> str:
    tv = matched_tv(topics, true_sub)
    text = (f"tv(freq) {tv.mean():.3f} q {np.quantile(tv, [.1, .5, .9]).round(2)} "
            f"purity {np.quantile(purity[anchors].max(axis=1), [.1, .5, .9]).round(2)} "
            f"distinct {len(set(purity[anchors].argmax(axis=1)))}")
    if doc_freq is not None:
        text += f" anchor df q {np.quantile(doc_freq[anchors], [.1, .5, .9])}"
    return text


def population() -> None:
    from svi_lda.numerics.anchors import find_anchors

    X, _, true = load(50_000)
    alpha = true["alpha"]
    moments = (np.outer(alpha, alpha) + np.diag(alpha)) / (alpha.sum() * (alpha.sum() + 1))
    doc_freq = np.diff(X[:20_000].tocsc().indptr)
    for n_words in (2_000, 5_000, X.shape[1]):
        frequent = np.sort(np.argsort(-doc_freq, kind="stable")[:n_words])
        A = true["topics"][:, frequent].T
        Q = A @ moments @ A.T
        Q /= Q.sum()
        p_word = Q.sum(axis=1)
        qbar = Q / p_word[:, None]
        anchors = find_anchors(qbar, np.arange(n_words), K, seed=0)
        purity = A * np.diag(moments)[None]
        purity /= purity.sum(axis=1, keepdims=True)
        true_sub = A.T / A.T.sum(axis=1, keepdims=True)
        print(f"{n_words} words, population: "
              + describe(anchors, recovered(qbar, p_word, anchors), true_sub, purity),
              flush=True)


def main() -> None:
    from svi_lda.numerics.anchors import find_anchors, word_cooccurrence

    print("command: python " + " ".join(sys.argv))
    print("load", os.getloadavg())
    if sys.argv[1] == "--population":
        population()
        return
    X, _, true = load(int(sys.argv[1]))
    n_docs, n_words = int(sys.argv[2]), int(sys.argv[3])
    sample = X[:n_docs]
    doc_freq = np.diff(sample.tocsc().indptr)
    frequent = np.sort(np.argsort(-doc_freq, kind="stable")[:n_words])
    t0 = time.perf_counter()
    Q = word_cooccurrence(sample[:, frequent], 2)
    print(f"Q {time.perf_counter() - t0:.1f}s load {os.getloadavg()[0]:.1f}", flush=True)
    p_word = Q.sum(axis=1)
    qbar = Q / p_word[:, None]
    doc_freq = doc_freq[frequent]
    A = true["topics"][:, frequent].T
    purity = A * true["alpha"][None]
    purity /= purity.sum(axis=1, keepdims=True)
    true_sub = A.T / A.T.sum(axis=1, keepdims=True)
    for min_df in (int(x) for x in sys.argv[4:]):
        candidates = np.flatnonzero(doc_freq >= min_df)
        t0 = time.perf_counter()
        anchors = find_anchors(qbar, candidates, K, seed=0)
        t1 = time.perf_counter()
        topics = recovered(qbar, p_word, anchors)
        t2 = time.perf_counter()
        print(f"min_df {min_df} ({len(candidates)} cand): anchors {t1 - t0:.1f}s recover "
              f"{t2 - t1:.1f}s " + describe(anchors, topics, true_sub, purity, doc_freq),
              flush=True)


if __name__ == "__main__":
    main()
