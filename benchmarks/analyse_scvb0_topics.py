"""Which true topics one SCVB0 pass misses, and what the model has instead (issue 15).

    python benchmarks/analyse_scvb0_topics.py 50000

Fits one pass with every default on the corpus of ``make_lda_corpus.py``, matches model
and true topics by the Hungarian algorithm on total-variation distance, and for the true
topics matched at TV > 0.6 prints their alpha against the matched ones', the nearest model
topic of each, and how close the model topics given to them are to another model topic.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_lda_corpus import K, load  # noqa: E402


def main() -> None:
    from svi_lda import OnlineLDA

    X, _, true = load(int(sys.argv[1]))
    print("command: python " + " ".join(sys.argv))
    model = OnlineLDA(K, learning_method="scvb0", max_iter=1, random_state=0, n_jobs=2)
    model.fit(X)
    T, M = true["topics"], model.get_topics()
    D = 0.5 * np.abs(T[:, None, :] - M[None, :, :]).sum(-1)
    rows, cols = linear_sum_assignment(D)
    bad = D[rows, cols] > 0.6
    print("unmatched true topics:", bad.sum())
    alpha = true["alpha"]
    print("alpha of unmatched true topics (mean) vs matched:", alpha[bad].mean(),
          alpha[~bad].mean())
    print("nearest model topic TV for unmatched true topics:",
          np.round(np.sort(D[bad].min(1)), 2))
    MM = 0.5 * np.abs(M[:, None, :] - M[None, :, :]).sum(-1)
    np.fill_diagonal(MM, np.inf)
    print("nearest other model topic TV for those model topics:",
          np.round(MM[cols[bad]].min(1), 2))
    print("nearest other model topic TV, model topics matched at TV <= 0.6 (median):",
          np.round(np.median(MM[cols[~bad]].min(1)), 2))


if __name__ == "__main__":
    main()
