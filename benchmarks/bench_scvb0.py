"""SCVB0 against SVI, gensim and tomotopy on a corpus drawn from a known K=100 LDA model.

    python benchmarks/bench_scvb0.py --docs 200000                 # a few minutes per library
    python benchmarks/bench_scvb0.py --docs 1000000                # the issue's size
    python benchmarks/bench_scvb0.py --docs 200000 --libs scvb0 svi  # skip gensim/tomotopy
    python benchmarks/bench_scvb0.py --docs 1000000 --libs scvb0-anchors scvb0 svi
                                        # SCVB0 from init="anchors" (its start timed in)

The corpus comes from ``make_lda_corpus.py`` (generated and cached on first use): documents
drawn from a 100-topic model fitted on 20 Newsgroups, plus 5,000 held-out documents.
Each library makes one pass (tomotopy: Gibbs iterations for about ``--tomotopy-factor``
times SCVB0's one-pass wall time, the reachable reference) on 2 cores, and every model is
scored by the same code against the true model's own figures:

- held-out perplexity by document completion (``svi_lda.evaluation``; half of each
  held-out document folds in theta with the model's own alpha, the other half is scored);
- NPMI of each topic's top 10 words, co-occurrence in the held-out documents;
- topic recovery: mean over true topics of the total-variation distance (half the L1
  distance) to the model topic matched by the Hungarian algorithm.

Each library runs in this process, one after another; svi-lda's kernels are compiled
before any timing. The machine is shared: the load average is printed with every row.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, machine_info, table, warm_up_svi  # noqa: E402
from make_lda_corpus import K, load  # noqa: E402


def recovery_distance(topics: np.ndarray, true: np.ndarray) -> float:
    """Mean total-variation distance of each true topic to its Hungarian-matched topic."""
    from scipy.optimize import linear_sum_assignment

    topics = topics / topics.sum(axis=1, keepdims=True)
    distance = np.empty((len(true), len(topics)))
    for i, row in enumerate(true):
        distance[i] = 0.5 * np.abs(topics - row).sum(axis=1)
    rows, cols = linear_sum_assignment(distance)
    return float(distance[rows, cols].mean())


def score(name: str, topics: np.ndarray, alpha, held, true, wall: float | None, **extra):
    from svi_lda.evaluation import completion_perplexity, npmi_coherence

    topics = np.asarray(topics, dtype=np.float64)
    topics = topics / topics.sum(axis=1, keepdims=True)
    row = {
        "method": name,
        "wall": wall,
        "perplexity": completion_perplexity(topics, held, doc_topic_prior=alpha),
        "npmi": float(npmi_coherence(topics, held)),
        "tv": recovery_distance(topics, true["topics"]),
        "load": load_average(),
        **extra,
    }
    print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "method"),
          flush=True)
    return row


# The README's one-pass recipe for the anchor start: the pass averages its minibatches
# (kappa 1) with the start weighted as 100 of them, instead of forgetting it.
ANCHOR_RECIPE = {"init": "anchors", "learning_offset": 100.0, "learning_decay": 1.0}


def run_svi_lda(method: str, X, settings: dict) -> tuple[object, float]:
    from svi_lda import OnlineLDA

    model = OnlineLDA(K, learning_method=method, max_iter=1, n_jobs=2, random_state=0,
                      **settings)
    t0 = time.perf_counter()
    model.fit(X)
    return model, time.perf_counter() - t0


def run_gensim(X, vocabulary) -> tuple[object, float]:
    from gensim.matutils import Sparse2Corpus
    from gensim.models import LdaModel

    corpus = Sparse2Corpus(X, documents_columns=False)
    t0 = time.perf_counter()
    model = LdaModel(
        corpus, num_topics=K, id2word=dict(enumerate(vocabulary)), chunksize=2000, passes=1,
        iterations=100, gamma_threshold=1e-3, alpha="symmetric", eta=None, eval_every=None,
        random_state=0, update_every=1,
    )
    return model, time.perf_counter() - t0


def run_tomotopy(X, vocabulary, budget: float, held, true) -> list[dict]:
    """Gibbs iterations in rounds of 10 until ``budget`` seconds of training; every round
    that crosses another fifth of the budget is scored."""
    import tomotopy as tp

    model = tp.LDAModel(k=K, seed=0)  # alpha 0.1 (learned every 10 iterations), eta 0.01
    t0 = time.perf_counter()
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        model.add_doc([vocabulary[w] for w, n in zip(X.indices[lo:hi], X.data[lo:hi],
                                                     strict=True) for _ in range(int(n))])
    add_seconds = time.perf_counter() - t0
    print(f"  tomotopy: adding {X.shape[0]:,} documents took {add_seconds:.1f} s (not timed "
          "below)", flush=True)
    index = {w: j for j, w in enumerate(vocabulary)}
    rows, trained, iterations, mark = [], 0.0, 0, 1
    while trained < budget:
        t0 = time.perf_counter()
        model.train(10, workers=2)
        trained += time.perf_counter() - t0
        iterations += 10
        if trained >= mark * budget / 5 or trained >= budget:
            mark = int(trained * 5 / budget) + 1
            cols = np.array([index[w] for w in model.used_vocabs], dtype=np.int64)
            topics = np.full((K, len(vocabulary)), 1e-12)
            for t in range(K):
                topics[t, cols] = model.get_topic_word_dist(t)
            rows.append(score(f"tomotopy {iterations} it", topics,
                              np.asarray(model.alpha, dtype=float), held, true, trained))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--libs", nargs="+", default=["scvb0", "svi", "gensim", "tomotopy"])
    ap.add_argument("--tomotopy-factor", type=float, default=10.0,
                    help="tomotopy trains for this many times SCVB0's one-pass time")
    ap.add_argument("--scvb0-batch", type=int, nargs="*", default=[],
                    help="extra SCVB0 runs with these batch sizes (tuning)")
    a = ap.parse_args()
    print("## SCVB0 benchmark: a corpus drawn from a K=100 model fitted on 20 Newsgroups\n")
    print("command: python " + " ".join(sys.argv))
    print(machine_info())
    print(f"load average at start (1, 5, 15 min): {load_average()}")
    X, held, true = load(a.docs, a.seed)
    vocabulary = [str(w) for w in true["vocabulary"]]
    print(f"corpus: {X.shape[0]:,} docs, {int(X.sum()):,} tokens, {X.nnz:,} non-zeros, "
          f"V = {X.shape[1]:,}; held out: {held.shape[0]:,} docs, {int(held.sum()):,} "
          f"tokens; true alpha sum {true['alpha'].sum():.3f}, eta {float(true['eta']):.3f}",
          flush=True)
    warm_up_svi()
    rows = [score("true model", true["topics"], true["alpha"], held, true, None)]
    scvb0_wall = None
    if "scvb0" in a.libs:
        model, wall = run_svi_lda("scvb0", X, {})
        scvb0_wall = wall
        rows.append(score("svi-lda scvb0 (defaults), 1 pass", model.get_topics(),
                          model.doc_topic_prior_, held, true, wall))
        for batch in a.scvb0_batch:
            model, wall = run_svi_lda("scvb0", X, {"batch_size": batch})
            rows.append(score(f"svi-lda scvb0 batch {batch}, 1 pass", model.get_topics(),
                              model.doc_topic_prior_, held, true, wall))
    anchors_wall = None
    if "scvb0-anchors" in a.libs:
        model, anchors_wall = run_svi_lda("scvb0", X, ANCHOR_RECIPE)
        rows.append(score('svi-lda scvb0 init="anchors", start + 1 pass', model.get_topics(),
                          model.doc_topic_prior_, held, true, anchors_wall))
    if "svi" in a.libs:
        model, wall = run_svi_lda("online", X, {})
        rows.append(score("svi-lda online SVI (defaults), 1 pass", model.get_topics(),
                          model.doc_topic_prior_, held, true, wall))
    if "gensim" in a.libs:
        model, wall = run_gensim(X, vocabulary)
        rows.append(score("gensim LdaModel, 1 pass", model.get_topics(),
                          np.asarray(model.alpha, dtype=float), held, true, wall))
    if "tomotopy" in a.libs and scvb0_wall is not None:
        rows.extend(run_tomotopy(X, vocabulary, a.tomotopy_factor * scvb0_wall, held, true))
    print()
    print(table(rows, [
        ("method", "method", ""), ("wall", "wall s", ".1f"),
        ("perplexity", "held-out ppl", ",.0f"), ("npmi", "NPMI", ".3f"),
        ("tv", "recovery TV", ".3f"), ("load", "load (1, 5, 15 min)", ""),
    ]))
    truth = rows[0]
    for r in rows[1:]:
        print(f"- {r['method']}: perplexity {r['perplexity'] / truth['perplexity'] - 1:+.1%} "
              f"against the truth (target within 10%), NPMI "
              f"{r['npmi'] - truth['npmi']:+.3f} (target within 0.03), recovery "
              f"{r['tv']:.3f} (target <= 0.15)")
    svi = next((r for r in rows if r["method"].startswith("svi-lda online")), None)
    if svi is not None and scvb0_wall is not None:
        print(f"- SCVB0 one pass / SVI one pass: {scvb0_wall / svi['wall']:.2f}x (target <= 2x)")
    if svi is not None and anchors_wall is not None:
        print(f"- SCVB0 anchor start + one pass / SVI one pass: {anchors_wall / svi['wall']:.2f}x "
              "(target <= 2x)")
    print(f"\nload average at end (1, 5, 15 min): {load_average()}; pid {os.getpid()}")


if __name__ == "__main__":
    main()
