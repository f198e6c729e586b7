"""Cheap cures tried for SCVB0's one-pass topics (issue 15): each variant is one pass of
``OnlineLDA(100, learning_method="scvb0")`` on the corpus of ``make_lda_corpus.py``.

    python benchmarks/cure_scvb0.py 50000 default seed10 seed100 warm20 auto

Variants (names on the command line):

- ``default``: every default.
- ``seed<W>``: topics seeded from documents before the first step, as SVI's
  ``init="documents"`` (:mod:`svi_lda.seeding`: 3 documents a topic) with their counts
  times ``W`` (SVI's weight is 10).
- ``warm<S>``: a warm start: batch CVB0 (``learning_method="cvb0"``), ``S`` sweeps over
  the first 2,048 documents, its expected counts scaled by D / 2,048 as the start of the
  SCVB0 pass.
- ``auto``: alpha learned (``doc_topic_prior="auto"``).
- ``burn<B>``: ``B`` burn-in sweeps per document.
- ``batch<S>``: minibatches of ``S`` documents.
- ``anchors<N>_<M>_<W>``: a spectral start (:mod:`svi_lda.numerics.anchors`, Arora et
  al. 2013): the co-occurrence of the ``M`` words of highest document frequency over the
  first ``N`` documents, K anchor words, RecoverL2; the frequent words start at
  ``W`` x (D x mean length) x p(w, z), the others at that mass spread by p(z) alone.
  Defaults N = 20,000, M = 5,000, W = 1 (``anchors``, ``anchors50000``, ...).
- ``reseed<T>``: a birth/merge move every ``RESEED_EVERY`` steps from step
  ``RESEED_FIRST`` to ``RESEED_STEPS``: of two topics closer than ``T`` in total
  variation, the smaller is restarted (at most ``RESEED_MAX`` a move) from the documents
  the model explains worst (lowest log predictive per token among the documents of at
  least 50 tokens of ``RESEED_POOL`` ahead in the pass; one document a restarted topic,
  its counts scaled to the median topic's mass), the way k-means restarts an empty
  cluster.

Each prints the fit's wall time (the warm start's included), held-out completion
perplexity, NPMI (held-out documents as reference), the mean total-variation distance to
the Hungarian-matched true topics and its quantiles, and the load average.
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

WARM_DOCS = 2048
RESEED_FIRST, RESEED_STEPS, RESEED_EVERY, RESEED_POOL, RESEED_MAX = 20, 80, 5, 2000, 5


def reseed(model, X, threshold: float, position: int) -> int:
    """One birth/merge move (see ``reseed<T>``); returns the topics restarted."""
    from svi_lda.batch import Batch
    from svi_lda.methods.scvb0 import scvb0_fold_in

    state = model.state_
    topics = model.get_topics()
    mass = state.scale * state.topic_sums
    distance = np.full((K, K), np.inf)
    for k in range(K):
        distance[k, k + 1 :] = 0.5 * np.abs(topics[k + 1 :] - topics[k]).sum(axis=1)
    smaller = set()
    for a, b in zip(*np.nonzero(distance < threshold), strict=True):
        if a not in smaller and b not in smaller:
            smaller.add(int(a if mass[a] < mass[b] else b))
    smaller = set(sorted(smaller)[:RESEED_MAX])
    if not smaller:
        return 0
    pool = X[position : position + RESEED_POOL]
    weights = scvb0_fold_in(state, Batch.from_csr(pool), 0, 2, sweeps=3)
    theta = weights / weights.sum(axis=1, keepdims=True)
    coo = pool.tocoo()
    p = np.einsum("ik,ki->i", theta[coo.row], topics[:, coo.col])
    loglik = np.bincount(coo.row, coo.data * np.log(p), pool.shape[0])
    length = np.asarray(pool.sum(axis=1)).ravel()
    per_token = np.where(length >= 50, loglik / np.maximum(length, 1), np.inf)
    worst = np.argsort(per_token)
    target = float(np.median(mass))
    for topic, doc in zip(sorted(smaller), worst, strict=False):
        row = pool[doc].toarray().ravel()
        column = row * (target / row.sum()) / state.scale
        state.word_topic[:, topic] = column.astype(state.word_topic.dtype)
        state.topic_sums[topic] = float(state.word_topic[:, topic].sum(dtype=np.float64))
    return len(smaller)


ANCHOR_DEFAULTS = (20_000, 5_000, 1.0)
START_SECONDS: dict[str, float] = {}


def anchor_start(model, X, name: str) -> None:
    """Replace the state's counts by the anchor-word start of variant ``name``."""
    from svi_lda.numerics.anchors import anchor_topics

    fields = name[len("anchors"):].split("_") if name != "anchors" else []
    n_docs, n_words, weight = ANCHOR_DEFAULTS
    if len(fields) > 0 and fields[0]:
        n_docs = int(fields[0])
    if len(fields) > 1:
        n_words = int(fields[1])
    if len(fields) > 2:
        weight = float(fields[2])
    t0 = time.perf_counter()
    sample = X[:n_docs]
    doc_freq = np.diff(sample.tocsc().indptr)
    frequent = np.sort(np.argsort(-doc_freq, kind="stable")[:n_words])
    topics, topic_share = anchor_topics(
        sample[:, frequent], K, seed=0, n_threads=2, iterations=200
    )
    word_tokens = np.asarray(sample.sum(axis=0)).ravel()
    total = weight * X.shape[0] * word_tokens.sum() / sample.shape[0]
    p_word = word_tokens / word_tokens.sum()
    counts = total * np.outer(p_word, topic_share)
    frequent_share = p_word[frequent].sum()
    counts[frequent] = total * frequent_share * (topic_share[:, None] * topics).T
    state = model.state_
    state.word_topic[...] = counts.astype(state.word_topic.dtype)
    state.scale = 1.0
    state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)
    START_SECONDS[name] = time.perf_counter() - t0


def build(name: str, X):
    """The model of variant ``name`` and a function preparing it before ``fit``."""
    import svi_lda.methods.scvb0 as scvb0
    import svi_lda.seeding as seeding
    from svi_lda import OnlineLDA

    params = dict(learning_method="scvb0", max_iter=1, random_state=0, n_jobs=2)
    scvb0.CollapsedSettings.__init__.__defaults__ = (3, 1.0, 10.0, 0.9, 0)
    object.__setattr__(scvb0.METHOD, "seeds_topics", False)
    seeding.SEED_WEIGHT = 10.0
    if name.startswith("seed"):
        object.__setattr__(scvb0.METHOD, "seeds_topics", True)
        seeding.SEED_WEIGHT = float(name[4:])
        params["init"] = "documents"
    elif name == "auto":
        params["doc_topic_prior"] = "auto"
    elif name.startswith("burn"):
        scvb0.CollapsedSettings.__init__.__defaults__ = (int(name[4:]), 1.0, 10.0, 0.9, 0)
    elif name.startswith("batch"):
        params["batch_size"] = int(name[5:])
    elif name != "default" and not name.startswith(("warm", "reseed", "anchors")):
        raise SystemExit(f"unknown variant {name!r}")
    model = OnlineLDA(K, **params)
    if name.startswith("warm"):
        sweeps = int(name[4:])
        original = model._init_state

        def warm_init(n_features: int, **options) -> None:
            original(n_features, **options)
            warm = OnlineLDA(K, learning_method="cvb0", max_iter=sweeps, random_state=0)
            warm.fit(X[:WARM_DOCS])
            counts = (warm.components_ - warm.state_.eta).T * (X.shape[0] / WARM_DOCS)
            state = model.state_
            state.word_topic[...] = counts.astype(state.word_topic.dtype)
            state.scale = 1.0
            state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)

        model._init_state = warm_init
    if name.startswith("anchors"):
        original_init = model._init_state

        def anchors_init(n_features: int, **options) -> None:
            original_init(n_features, **options)
            anchor_start(model, X, name)

        model._init_state = anchors_init
    return model


def main() -> None:
    from svi_lda.evaluation import completion_perplexity, npmi_coherence

    X, held, true = load(int(sys.argv[1]))
    print("command: python " + " ".join(sys.argv))
    print("load", os.getloadavg())
    for name in sys.argv[2:]:
        model = build(name, X)
        callbacks = []
        if name.startswith("reseed"):
            threshold, restarted = float(name[6:]), []

            def move(metrics, model=model, threshold=threshold, restarted=restarted):
                if RESEED_FIRST <= metrics.step <= RESEED_STEPS and (
                    metrics.step % RESEED_EVERY == 0
                ):
                    position = metrics.step * int(model.batch_size)
                    restarted.append(reseed(model, X, threshold, position))

            callbacks.append(move)
        t0 = time.perf_counter()
        model.fit(X, callbacks=callbacks)
        wall = time.perf_counter() - t0
        tv = matched_tv(model.get_topics(), true["topics"])
        print(f"{name}: {wall:.2f}s ppl {completion_perplexity(model, held):.0f} "
              f"npmi {npmi_coherence(model, held):.3f} tv {tv.mean():.3f} "
              f"tv quantiles (10 25 50 75 90%) {np.quantile(tv, [.1, .25, .5, .75, .9]).round(2)} "
              f"load {os.getloadavg()[0]:.1f}"
              + (f" restarted {restarted}" if name.startswith("reseed") else "")
              + (f" start {START_SECONDS[name]:.2f}s" if name in START_SECONDS else ""),
              flush=True)


if __name__ == "__main__":
    main()
