"""Which local step should ``transform`` use on an SCVB0 model? Measured by completion.

    python benchmarks/compare_scvb0_transform.py --docs 50000

Fits ``OnlineLDA(100, learning_method="scvb0")`` for one pass on the corpus of
``make_lda_corpus.py``, splits each held-out document's tokens in half (seeded), folds in
theta on the observed half with each candidate, and scores the other half with
``p(w) = sum_k theta_k beta_kw`` (beta: the model's normalised topics), as
``svi_lda.evaluation.completion_perplexity`` does. Candidates:

- ``OnlineLDA.transform``: the SCVB0 fold-in (``svi_lda.methods.scvb0.scvb0_fold_in``,
  ``FOLD_IN_SWEEPS`` sweeps from each document's content-hashed start);
- SVI's mean-field E-step on ``lambda = N_phi + eta`` (what ``transform`` used before);
- the SCVB0 local step (``svi_lda.methods.scvb0.scvb0_theta``) with 3 and 10 burn-in
  sweeps from the training start: ``theta = (N_theta + alpha) / (C_j + sum alpha)``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import load_average, warm_up_svi  # noqa: E402
from make_lda_corpus import K, load  # noqa: E402


def heldout_perplexity(theta: np.ndarray, topics: np.ndarray, heldout) -> float:
    coo = heldout.tocoo()
    p = np.einsum("ik,ki->i", theta[coo.row], topics[:, coo.col])
    return float(np.exp(-np.sum(coo.data * np.log(p)) / coo.data.sum()))


def main() -> None:
    from svi_lda import OnlineLDA
    from svi_lda.batch import Batch
    from svi_lda.evaluation import split_tokens
    from svi_lda.methods.scvb0 import CollapsedSettings, scvb0_theta

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=50_000)
    a = ap.parse_args()
    print("command: python " + " ".join(sys.argv))
    print(f"load average at start: {load_average()}")
    X, held, _ = load(a.docs)
    warm_up_svi()
    model = OnlineLDA(K, learning_method="scvb0", max_iter=1, n_jobs=2, random_state=0).fit(X)
    topics = model.get_topics()
    observed, heldout = split_tokens(held, seed=0)
    rows = []
    t0 = time.perf_counter()
    theta = model.transform(observed)
    rows.append(("transform: SCVB0 fold-in, content-hashed start", time.perf_counter() - t0,
                 heldout_perplexity(theta, topics, heldout)))
    t0 = time.perf_counter()
    gamma = model._infer(observed)[0]
    rows.append(("SVI E-step on lambda = N_phi + eta", time.perf_counter() - t0,
                 heldout_perplexity(gamma / gamma.sum(axis=1, keepdims=True), topics,
                                    heldout)))
    for burn_in in (3, 10):
        t0 = time.perf_counter()
        theta = scvb0_theta(model.state_, Batch.from_csr(observed),
                            CollapsedSettings(burn_in=burn_in, seed=model.random_seed_),
                            n_threads=2)
        rows.append((f"SCVB0 local step, {burn_in} burn-in sweeps", time.perf_counter() - t0,
                     heldout_perplexity(theta, topics, heldout)))
    print(f"\n{held.shape[0]:,} held-out documents, model fitted on {X.shape[0]:,}\n")
    print("| fold-in | seconds | held-out perplexity |\n|---|---:|---:|")
    for name, seconds, perplexity in rows:
        print(f"| {name} | {seconds:.2f} | {perplexity:,.0f} |")
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
