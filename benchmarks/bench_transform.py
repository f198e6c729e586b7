"""Queries that do not depend on row order: what the content-keyed start costs.

On 20 Newsgroups (K=20, one pass on train), for the test set: the time of
``OnlineLDA.transform`` (each document started from a hash of its content), of the
content-key kernel alone, and of the same E-step started from row numbers (the start
``transform`` used before issue 14); how far rows move when the test set is permuted,
for both starts and for scikit-learn's ``LatentDirichletAllocation.transform``; and the
import time of svi_lda with and without scikit-learn (svi_lda imports it only when
scikit-learn code is already in use).

    python benchmarks/bench_transform.py            # ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
from _common import describe_corpus, load_20ng, load_average, machine_info, warm_up_svi


def median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def row_number_start(model, X) -> np.ndarray:
    """transform as before issue 14: each document started from its row number."""
    from svi_lda.inference import read_documents
    from svi_lda.step import estep_unit, unit_vocabulary

    batch, _ = read_documents(model, X, first_doc_id=0)
    ids, index = unit_vocabulary(batch)
    rows, shift = model.state_.exp_elog_beta_rows(ids, n_threads=model._n_threads())
    _, gamma = estep_unit(batch, index, ids, rows, shift, model.state_.alpha,
                          model._settings(), n_threads=model._n_threads())
    return gamma / gamma.sum(axis=1, keepdims=True)


def import_seconds(code: str, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from sklearn.decomposition import LatentDirichletAllocation

    from svi_lda import OnlineLDA
    from svi_lda.numerics.hashing import document_content_keys

    print("## transform: content-keyed starts\n")
    print("command: python " + " ".join(sys.argv))
    print(machine_info())
    print(f"load average at start: {load_average()}")
    corpus = load_20ng()
    print(describe_corpus(corpus))
    X_train, X_test = corpus.X_train, corpus.X_test
    warm_up_svi()
    model = OnlineLDA(args.k, max_iter=1, random_state=0, n_jobs=2).fit(X_train)
    sk = LatentDirichletAllocation(args.k, learning_method="online", max_iter=1,
                                   random_state=0, n_jobs=1).fit(X_train)
    perm = np.random.default_rng(1).permutation(X_test.shape[0])
    Xp = X_test[perm]

    t_transform = median_seconds(lambda: model.transform(X_test), args.repeat)
    t_keys = median_seconds(
        lambda: document_content_keys(X_test.indptr, X_test.indices, X_test.data, 0),
        args.repeat,
    )
    t_rows = median_seconds(lambda: row_number_start(model, X_test), args.repeat)
    t_sklearn = median_seconds(lambda: sk.transform(X_test), max(1, args.repeat // 2))

    moved = {
        "svi-lda, content-keyed start": np.abs(model.transform(Xp) - model.transform(X_test)[perm]),
        "svi-lda, row-number start (before)": np.abs(
            row_number_start(model, Xp) - row_number_start(model, X_test)[perm]
        ),
        "scikit-learn": np.abs(sk.transform(Xp) - sk.transform(X_test)[perm]),
    }
    print(f"\nK = {args.k}, {X_test.shape[0]:,} test documents, medians of {args.repeat}\n")
    print("| what | seconds |")
    print("|---|---:|")
    print(f"| svi-lda transform (content-keyed start, 2 threads) | {t_transform:.4f} |")
    print(f"| of which content keys (1 thread) | {t_keys:.4f} |")
    print(f"| same E-step, row-number start | {t_rows:.4f} |")
    print(f"| scikit-learn transform (1 job) | {t_sklearn:.4f} |")
    print("\nrows moved by permuting the test set\n")
    print("| start | documents moved > 0.01 | largest change | bitwise equal |")
    print("|---|---:|---:|---|")
    for name, diff in moved.items():
        row_max = diff.max(axis=1)
        print(f"| {name} | {int((row_max > 0.01).sum())} | {row_max.max():.3g} | "
              f"{bool(np.all(diff == 0))} |")

    plain = import_seconds("import svi_lda", 3)
    with_sk = import_seconds("import svi_lda, sklearn.exceptions", 3)
    print("\nimport, wall seconds (median of 3 fresh interpreters)\n")
    print("| import | seconds |")
    print("|---|---:|")
    print(f"| svi_lda | {plain:.2f} |")
    print(f"| svi_lda + sklearn.exceptions | {with_sk:.2f} |")
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
