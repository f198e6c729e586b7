"""A corpus drawn from a K=100 LDA model fitted on 20 Newsgroups (issue 15's benchmark data).

    python benchmarks/make_lda_corpus.py --docs 1000000            # the issue's size
    python benchmarks/make_lda_corpus.py --docs 200000             # what fits a shared VM

The true model: tomotopy's collapsed Gibbs sampler (``LDAModel(k=100)``: eta 0.01, an
asymmetric alpha learned every 10 iterations from 0.1) run for 1,000 iterations on the
20 Newsgroups training matrix of ``_common.load_20ng`` (its real vocabulary), fitted once
and cached as ``true_model_k100.npz`` under ``$SVI_LDA_BENCH_CACHE`` (default
``/tmp/svi-lda-bench``; never committed). A sampler rather than CVB0 because CVB0's
alpha, learned by Minka's update from expected counts, came out at a sum of 40 (about
0.4 per topic): documents that mixed make held-out perplexity (4,777 for the true
model at 50,000 documents) and topic recovery measure little.

Documents: ``theta_d ~ Dirichlet(alpha)``, the length drawn with replacement from the real
training documents' token counts, tokens drawn from the topics
(:func:`svi_lda.synthetic.sample_documents`), in chunks of 50,000 documents. Written as
``lda100_<docs>_seed<seed>.npz`` next to the model: the training CSR (int32 counts) plus
5,000 held-out documents drawn the same way (and their true theta, for reference).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import CACHE, describe_corpus, load_20ng, load_average  # noqa: E402

K = 100
ITERATIONS = 1000
HELD_OUT = 5_000
CHUNK = 50_000


def true_model_path() -> Path:
    return CACHE / f"true_model_k{K}.npz"


def fit_true_model() -> dict[str, np.ndarray]:
    """Fit (or load from the cache) the model the corpus is drawn from."""
    path = true_model_path()
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {name: z[name] for name in z.files}
    import tomotopy as tp

    corpus = load_20ng()
    X, vocab = corpus.X_train, corpus.vocabulary
    print("fitting the true model on 20 Newsgroups: " + describe_corpus(corpus), flush=True)
    model = tp.LDAModel(k=K, seed=0)  # alpha 0.1 to start, learned; eta 0.01
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        model.add_doc([vocab[w] for w, n in zip(X.indices[lo:hi], X.data[lo:hi], strict=True)
                       for _ in range(int(n))])
    t0 = time.perf_counter()
    model.train(ITERATIONS, workers=2)
    print(f"  tomotopy LDAModel, {ITERATIONS} Gibbs iterations: "
          f"{time.perf_counter() - t0:.1f} s (load {load_average()})", flush=True)
    index = {w: j for j, w in enumerate(vocab)}
    cols = np.array([index[w] for w in model.used_vocabs], dtype=np.int64)
    topics = np.zeros((K, len(vocab)))
    for t in range(K):
        topics[t, cols] = model.get_topic_word_dist(t)
    # Words tomotopy never saw (none with min_df=5) get eta's share, so no probability is 0.
    topics = (topics + 1e-12) / (topics + 1e-12).sum(axis=1, keepdims=True)
    out = {
        "topics": topics,
        "alpha": np.asarray(model.alpha, dtype=np.float64),
        "eta": np.array(model.eta),
        "lengths": np.asarray(X.sum(axis=1)).ravel().astype(np.int64),
        "vocabulary": np.array(vocab),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, **out)
    os.replace(tmp, path)
    return out


def draw(model: dict[str, np.ndarray], n_docs: int, rng: np.random.Generator):
    """``n_docs`` documents from the model, in chunks; returns (CSR int32 counts, theta)."""
    from svi_lda.synthetic import sample_documents

    parts, thetas = [], []
    for start in range(0, n_docs, CHUNK):
        n = min(CHUNK, n_docs - start)
        theta = rng.dirichlet(model["alpha"], size=n)
        lengths = rng.choice(model["lengths"], size=n, replace=True)
        X = sample_documents(model["topics"], theta, lengths, rng)
        parts.append(sp.csr_matrix(
            (X.data.astype(np.int32), X.indices.astype(np.int32), X.indptr), shape=X.shape
        ))
        thetas.append(theta.astype(np.float32))
    return sp.vstack(parts, format="csr"), np.concatenate(thetas)


def corpus_path(n_docs: int, seed: int) -> Path:
    return CACHE / f"lda{K}_{n_docs}_seed{seed}.npz"


def make(n_docs: int, seed: int) -> Path:
    """Write (or find) the corpus of ``n_docs`` training documents; returns its path."""
    path = corpus_path(n_docs, seed)
    if path.exists():
        return path
    model = fit_true_model()
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    X, _ = draw(model, n_docs, rng)
    X_held, theta_held = draw(model, HELD_OUT, rng)
    print(f"drew {n_docs:,} + {HELD_OUT:,} documents ({int(X.sum()):,} training tokens) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(
        tmp, data=X.data, indices=X.indices, indptr=X.indptr, shape=np.array(X.shape),
        held_data=X_held.data, held_indices=X_held.indices, held_indptr=X_held.indptr,
        held_shape=np.array(X_held.shape), held_theta=theta_held,
    )
    os.replace(tmp, path)
    return path


def load(n_docs: int, seed: int = 0):
    """(X_train float64 CSR, X_held float64 CSR, true model dict) for a generated corpus."""
    path = make(n_docs, seed)
    with np.load(path, allow_pickle=False) as z:
        X = sp.csr_matrix(
            (z["data"].astype(np.float64), z["indices"], z["indptr"]), shape=tuple(z["shape"])
        )
        X_held = sp.csr_matrix(
            (z["held_data"].astype(np.float64), z["held_indices"], z["held_indptr"]),
            shape=tuple(z["held_shape"]),
        )
    return X, X_held, fit_true_model()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=1_000_000, help="training documents")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(f"load average (1, 5, 15 min): {load_average()}")
    path = make(a.docs, a.seed)
    X, X_held, model = load(a.docs, a.seed)
    print(f"{path}: {X.shape[0]:,} docs, {int(X.sum()):,} tokens, {X.nnz:,} non-zeros, "
          f"V = {X.shape[1]:,}; held out {X_held.shape[0]:,} docs; "
          f"true alpha sum {model['alpha'].sum():.3f}, eta {float(model['eta']):.4f}")


if __name__ == "__main__":
    main()
