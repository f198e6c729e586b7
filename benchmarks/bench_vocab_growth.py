"""Time per SVI step as the vocabulary grows: lazy lambda (svi-lda) vs the dense update.

    python benchmarks/bench_vocab_growth.py                       # V = 25k, 250k, 1M; K=100
    python benchmarks/bench_vocab_growth.py --v 25000 250000 --steps 3   # quick check

The minibatches are the same in every configuration: the first ``steps + 1`` blocks of
``--batch`` (2,000) 20 Newsgroups training documents (about 21k distinct words overall).
Only V changes: the 21,392 word ids are mapped into 0..V-1 by a random injective map
(seed 0), so the minibatch's own vocabulary is identical and its columns are scattered
over the whole matrix. K, the E-step settings, D (= 11,293) and the schedule
(kappa=0.7, tau0=10) are fixed. The first step is a warm-up and is not counted.
By default every document makes exactly 20 gamma updates (``--iters 20``, tolerance 0):
the number of updates to convergence depends on lambda's random start, whose mass grows
with V, so a convergence test would change the E-step's work with V and hide what is
measured here, the cost of the step itself. ``--tol 1e-3 --iters 100`` restores the usual
stopping rule.

* svi-lda: ``svi_lda.step.svi_step`` on ``GlobalState`` (lambda = eta + scale * W, step
  cost O(K x words in the minibatch)).
* dense: the same E-step kernel, then the global update of Hoffman et al.'s onlineldavb
  and scikit-learn's online LDA: build a dense K x V sufficient-statistics matrix,
  ``lambda = (1 - rho) lambda + rho (eta + D/S sstats)`` over all K x V entries, and
  recompute exp(E[log beta]) = exp(digamma(lambda) - digamma(rowsum)) for all K x V.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    load_20ng,
    load_average,
    machine_info,
    profile_steps,
    table,
    warm_up_svi,
)


def remap(X: sp.csr_matrix, n_features: int, seed: int = 0) -> sp.csr_matrix:
    """Same documents and words, word j renamed to a random distinct id in 0..V-1."""
    ids = np.random.default_rng(seed).choice(n_features, size=X.shape[1], replace=False)
    Y = sp.csr_matrix((X.data, ids[X.indices], X.indptr), shape=(X.shape[0], n_features))
    Y.sort_indices()
    return Y


def run_lazy(batches, k: int, n_features: int, total: float, settings) -> list[dict]:
    from svi_lda.batch import Batch
    from svi_lda.schedule import RobbinsMonro
    from svi_lda.state import GlobalState
    from svi_lda.step import svi_step

    state = GlobalState.initialize(k, n_features, alpha=np.full(k, 1.0 / k), eta=1.0 / k,
                                   seed=0)
    schedule = RobbinsMonro(tau0=10.0, kappa=0.7)
    out = []
    with profile_steps() as prof:
        for i, X in enumerate(batches):
            unit = Batch.from_csr(X, first_doc_id=i * X.shape[0])
            rows_before = prof.rows_seconds
            t0 = time.perf_counter()
            m = svi_step(state, [unit], settings, schedule, total_samples=total, n_threads=2)
            wall = time.perf_counter() - t0
            out.append({"wall": wall, "estep_and_rows": m.seconds, "global": wall - m.seconds,
                        "rows": prof.rows_seconds - rows_before,
                        "iters": m.mean_doc_iterations})
    return out


def run_dense(batches, k: int, n_features: int, total: float, settings) -> list[dict]:
    from svi_lda.batch import Batch
    from svi_lda.schedule import RobbinsMonro
    from svi_lda.step import estep_unit, unit_vocabulary

    eta = 1.0 / k
    alpha = np.full(k, 1.0 / k)
    lam = np.random.default_rng(0).gamma(100.0, 0.01, size=(k, n_features))
    schedule = RobbinsMonro(tau0=10.0, kappa=0.7)

    def exp_elog_beta(lam: np.ndarray) -> np.ndarray:
        e = digamma(lam)
        e -= digamma(lam.sum(axis=1))[:, None]
        return np.exp(e, out=e)

    eb = exp_elog_beta(lam)
    out = []
    for i, X in enumerate(batches):
        unit = Batch.from_csr(X, first_doc_id=i * X.shape[0])
        t0 = time.perf_counter()
        ids, index = unit_vocabulary(unit)
        t_rows = time.perf_counter()
        rows = np.ascontiguousarray(eb[:, ids].T)
        t_rows = time.perf_counter() - t_rows
        stats, _ = estep_unit(unit, index, ids, rows, np.zeros(len(ids)), alpha, settings,
                              n_threads=2)
        t1 = time.perf_counter()
        rho = schedule.rho(i)
        sstats = np.zeros((k, n_features))
        sstats[:, ids] = stats.sstats.T
        lam *= 1.0 - rho
        lam += rho * (eta + (total / X.shape[0]) * sstats)
        eb = exp_elog_beta(lam)
        t2 = time.perf_counter()
        out.append({"wall": t2 - t0, "estep_and_rows": t1 - t0, "global": t2 - t1,
                    "rows": t_rows,
                    "iters": stats.n_iter / X.shape[0]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--v", type=int, nargs="+", default=[25_000, 250_000, 1_000_000])
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=5, help="timed steps (after one warm-up)")
    ap.add_argument("--iters", type=int, default=20, help="gamma updates per document")
    ap.add_argument("--tol", type=float, default=0.0, help="mean |change| tolerance")
    ap.add_argument("--no-dense", action="store_true")
    a = ap.parse_args()
    print("## Time per SVI step as V grows\n")
    print("command: python " + " ".join(sys.argv))
    print(machine_info())
    c = load_20ng()
    X = c.X_train[: a.batch * (a.steps + 1)].astype(np.float64)
    n_words = len(np.unique(X[: a.batch].indices))
    total = float(c.X_train.shape[0])
    print(f"K = {a.k}, {a.steps} timed steps of {a.batch} docs (after 1 warm-up), "
          f"{n_words:,} distinct words in the first minibatch, D = {total:,.0f}, n_jobs = 2\n")
    from svi_lda.step import EStepSettings

    settings = EStepSettings(max_doc_update_iter=a.iters, mean_change_tol=a.tol, seed=0)
    print(f"E-step: at most {a.iters} gamma updates per document, tolerance {a.tol:g}\n")
    warm_up_svi()
    # Throwaway run: thread pools, page faults and caches warm before anything is timed.
    warm = remap(X, a.v[0])
    run_lazy([warm[: a.batch], warm[a.batch : 2 * a.batch]], a.k, a.v[0], total, settings)
    rows = []
    for v in a.v:
        if v < X.shape[1]:
            raise SystemExit(f"V={v} is smaller than the 20NG vocabulary ({X.shape[1]})")
        Y = remap(X, v)
        batches = [Y[i * a.batch : (i + 1) * a.batch] for i in range(a.steps + 1)]
        methods = [("svi-lda (lazy lambda)", run_lazy)]
        if not a.no_dense:
            methods.append(("dense update (onlineldavb / sklearn)", run_dense))
        for name, fn in methods:
            res = fn(batches, a.k, v, total, settings)[1:]
            rows.append({
                "method": name, "V": f"{v:,}",
                "step": float(np.median([r["wall"] for r in res])),
                "estep": float(np.median([r["estep_and_rows"] for r in res])),
                "global": float(np.median([r["global"] for r in res])),
                "rows": float(np.median([r["rows"] for r in res])),
                "iters": float(np.mean([r["iters"] for r in res])),
            })
            print(f"  {name} V={v:,}: {rows[-1]['step']:.3f} s/step", flush=True)
    base = {r["method"]: r["step"] for r in rows if r["V"] == f"{a.v[0]:,}"}
    for r in rows:
        r["rel"] = r["step"] / base[r["method"]]
    print()
    print(table(rows, [
        ("method", "method", ""), ("V", "V", ""), ("step", "median s/step", ".3f"),
        ("rel", f"vs V={a.v[0]:,}", ".2f"), ("estep", "E-step + rows s", ".3f"),
        ("rows", "of which rows s", ".4f"), ("global", "global update s", ".4f"),
        ("iters", "gamma updates/doc", ".1f"),
    ]))
    print(f"\nload average at end (1, 5, 15 min): {load_average()}")


if __name__ == "__main__":
    main()
