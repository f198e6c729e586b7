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
    elif name != "default" and not name.startswith("warm"):
        raise SystemExit(f"unknown variant {name!r}")
    model = OnlineLDA(K, **params)
    if name.startswith("warm"):
        sweeps = int(name[4:])
        original = model._init_state

        def warm_init(n_features: int) -> None:
            original(n_features)
            warm = OnlineLDA(K, learning_method="cvb0", max_iter=sweeps, random_state=0)
            warm.fit(X[:WARM_DOCS])
            counts = (warm.components_ - warm.state_.eta).T * (X.shape[0] / WARM_DOCS)
            state = model.state_
            state.word_topic[...] = counts.astype(state.word_topic.dtype)
            state.scale = 1.0
            state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)

        model._init_state = warm_init
    return model


def main() -> None:
    from svi_lda.evaluation import completion_perplexity, npmi_coherence

    X, held, true = load(int(sys.argv[1]))
    print("command: python " + " ".join(sys.argv))
    print("load", os.getloadavg())
    for name in sys.argv[2:]:
        model = build(name, X)
        t0 = time.perf_counter()
        model.fit(X)
        wall = time.perf_counter() - t0
        tv = matched_tv(model.get_topics(), true["topics"])
        print(f"{name}: {wall:.2f}s ppl {completion_perplexity(model, held):.0f} "
              f"npmi {npmi_coherence(model, held):.3f} tv {tv.mean():.3f} "
              f"tv quantiles (10 25 50 75 90%) {np.quantile(tv, [.1, .25, .5, .75, .9]).round(2)} "
              f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
