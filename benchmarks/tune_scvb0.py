"""One-pass settings of SCVB0 (and SVI) on the corpus of ``make_lda_corpus.py``: the runs
behind the defaults recorded in ``benchmarks/results/scvb0.md``.

    python benchmarks/tune_scvb0.py 50000 "[('scvb0', 3, 512, 10, 0.7, 'random', None, 1)]"

The second argument is a Python list of (learning_method, burn-in sweeps, batch_size,
learning_offset, learning_decay, init, doc_topic_prior, passes). Each run prints its wall
time, held-out completion perplexity, NPMI (held-out documents as reference), the mean
total-variation distance to the Hungarian-matched true topics, and its quantiles. With
``--true`` the true model's perplexity and NPMI come first.
"""

from __future__ import annotations

import ast
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_lda_corpus import load  # noqa: E402


def matched_tv(estimated: np.ndarray, true: np.ndarray) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    distance = np.empty((len(true), len(estimated)))
    for i, row in enumerate(true):
        distance[i] = 0.5 * np.abs(estimated - row).sum(axis=1)
    rows, cols = linear_sum_assignment(distance)
    return distance[rows, cols]


def main() -> None:
    import svi_lda.methods.scvb0 as scvb0
    from svi_lda import OnlineLDA
    from svi_lda.evaluation import completion_perplexity, npmi_coherence

    X, held, true = load(int(sys.argv[1]))
    print("command: python " + " ".join(sys.argv))
    print("load", os.getloadavg())
    if "--true" in sys.argv:
        print("true ppl", round(completion_perplexity(true["topics"], held,
                                                      doc_topic_prior=true["alpha"])),
              "npmi", round(npmi_coherence(true["topics"], held), 3))
    for method, burn, batch, tau, kappa, init, alpha, passes in ast.literal_eval(sys.argv[2]):
        # burn-in sweeps: the default of CollapsedSettings for this run
        scvb0.CollapsedSettings.__init__.__defaults__ = (burn, 1.0, 10.0, 0.9, 0)
        model = OnlineLDA(100, learning_method=method, max_iter=passes, batch_size=batch,
                          learning_offset=tau, learning_decay=kappa, init=init,
                          doc_topic_prior=alpha, random_state=0, n_jobs=2)
        t0 = time.perf_counter()
        model.fit(X)
        wall = time.perf_counter() - t0
        tv = matched_tv(model.get_topics(), true["topics"])
        print(method, burn, batch, tau, kappa, init, alpha, passes, f"{wall:.2f}s",
              "ppl", round(completion_perplexity(model, held)),
              "npmi", round(npmi_coherence(model, held), 3), "tv", round(float(tv.mean()), 3),
              "tv quantiles (10 25 50 75 90%)",
              np.quantile(tv, [0.1, 0.25, 0.5, 0.75, 0.9]).round(2), flush=True)


if __name__ == "__main__":
    main()
