"""``learning_method="scvb0"``: stochastic collapsed variational Bayes (Foulds et al. 2013).

A local step on each unit and a global update on the state, the same two pieces as SVI:

- parameter rows: the topic-word estimates ``beta[w, k] = (N_phi[w, k] + eta) / (N_z[k]
  + V eta)`` for the unit's words, O(K x words);
- local step: per document, expected topic counts ``N_theta_j`` moved by burn-in sweeps,
  then the token-level statistics ``sum over tokens of gamma`` at each word (kernel and
  equations: :mod:`svi_lda.numerics.scvb0`);
- global update: ``N_phi <- (1 - rho) N_phi + rho (D / S) stats`` with ``D`` the
  corpus size in documents and ``S`` the minibatch's documents (``N_z`` follows as its
  column sums).

The state is SVI's :class:`~svi_lda.state.GlobalState` unchanged:
``lambda = eta + scale * W`` with ``scale * W = N_phi``, so ``components_`` holds the
expected word-topic counts plus the prior, ``N_phi + eta`` (a Dirichlet parameter of the
same kind as SVI's lambda), ``topic_totals()`` is ``N_z + V eta``, and the update is
:func:`~svi_lda.state.natural_gradient_step` itself: one scalar for the decay, the
minibatch's columns for the rest, O(K x minibatch words) whatever V.

Corpus size: **documents**, as for every other method. ``total_samples`` is D, the number
of documents the model summarises, in ``fit`` (None: the documents of the data it is
given), ``partial_fit`` (None: scikit-learn's 1e6) and the streamer (its scaling's D:
documents seen, or the drift window; :mod:`svi_lda.streaming.scaling`). Foulds et al.
scale by ``C / |M|``, the corpus's tokens over the minibatch's; ``D / S`` is the same
estimate of the corpus's token-topic counts from a sample of documents (unbiased for
minibatches drawn by document, where ``C / |M|`` is a ratio estimate), and it lets one
number mean the same for all methods and all entry points (a stream has a count of
documents, not of tokens, to scale by).

Per-step figure: SCVB0 has no ELBO. Each step reports (as ``bound_per_token``) the
minibatch's **log predictive per token**: ``sum_w c log sum_k beta_wk (N_theta_jk +
alpha_k) / (C_j + sum alpha)`` over its tokens, with the topics before the step and each
document's counts after burn-in (an in-sample collapsed figure in nats, not a bound).

Alpha (``doc_topic_prior="auto"``): the damped Newton step SVI takes
(:func:`~svi_lda.state.update_alpha`), from ``sum_j E[log theta_j]`` under
``theta_j ~ Dirichlet(N_theta_j + alpha)``, the collapsed posterior of the document's
proportions.

``transform`` on an SCVB0 model folds documents in by the SCVB0 local step under the
fixed topics (:func:`scvb0_fold_in`, ``FOLD_IN_SWEEPS`` sweeps): rows ``(N_theta_j +
alpha) / (C_j + sum alpha)``, each document started from a hash of its content as SVI's
inference starts gamma, so a row does not depend on the other documents, their order or
the threads. It folds in held-out documents better than SVI's E-step on ``lambda = N_phi
+ eta`` (completion perplexity 2,247 with 10 sweeps against 2,294,
``benchmarks/compare_scvb0_transform.py``). ``score`` and ``perplexity`` stay SVI's
bound on that lambda.

The topics start from the random lambda of :meth:`GlobalState.initialize` without
seeding from documents (``seeds_topics=False``: seeding measured worse here,
``benchmarks/results/scvb0.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import digamma

from svi_lda.batch import Batch
from svi_lda.methods import UpdateContext
from svi_lda.numerics.scatter import weighted_bincount
from svi_lda.numerics.scvb0 import fold_in_documents, run_scvb0_local, topic_word_rows
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState, natural_gradient_step
from svi_lda.step import (
    EStepSettings,
    StepMetrics,
    UnitStats,
    content_gamma,
    finish_step,
    initial_gamma,
    unit_vocabulary,
)

FIGURE_LABEL = "minibatch log predictive per token (nats, collapsed, not a bound)"


@dataclass(frozen=True)
class CollapsedSettings:
    """Settings of the SCVB0 local step.

    ``burn_in`` sweeps move each document's counts before the statistics pass; the
    per-token step within a document is ``step_scale / (step_offset + t) **
    step_decay`` (the paper's s = 1, tau = 10, kappa = 0.9 by default). ``seed`` keys the
    documents' hashed starts.
    """

    burn_in: int = 3
    step_scale: float = 1.0
    step_offset: float = 10.0
    step_decay: float = 0.9
    seed: int = 0


def document_start(doc_ids: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """Each document's start, a pure function of (seed, document id, topic):
    ``0.01 - log(1 - u)`` with ``u`` uniform on [0, 1) from SVI's hash
    (:func:`~svi_lda.step.initial_gamma` is ``0.8 + 0.4 u``).

    Exponential draws, normalised by the kernel, are a Dirichlet(1) point: documents start
    far apart, which breaks the symmetry between the near-identical topics of the first
    steps. Measured on 50,000 documents of the K=100 benchmark corpus, one pass: held-out
    perplexity 2,379 against 2,396 from SVI's near-uniform start (0.8 to 1.2), NPMI
    0.257 against 0.242, topic recovery distance 0.415 against 0.495.
    """
    u = (initial_gamma(doc_ids, n_components, seed) - 0.8) / 0.4
    return 0.01 - np.log1p(-np.clip(u, 0.0, 1.0 - 2.0**-53))


def scvb0_parameter_rows(
    state: GlobalState, word_ids: np.ndarray, n_threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``beta`` rows for ``word_ids`` in the state's dtype, and a zero ``log_shift``.

    ``beta[i, k] = (N_phi[w, k] + eta) / (N_z[k] + V eta)`` for ``w = word_ids[i]``:
    O(K x len(word_ids)). The zero shift keeps the row interface SVI's rows have.
    """
    word_ids = np.asarray(word_ids, dtype=np.int64)
    word_rows = state.eta + state.scale * state.word_topic[word_ids].astype(np.float64)
    rows = np.empty((len(word_ids), state.n_components), dtype=np.float64)
    topic_word_rows(word_rows, state.topic_totals(), rows)
    return rows.astype(state.word_topic.dtype, copy=False), np.zeros(len(word_ids))


def scvb0_local_step(
    batch: Batch,
    word_index: np.ndarray,
    word_ids: np.ndarray,
    rows: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    settings: CollapsedSettings,
    *,
    n_threads: int = 1,
    word_rows: np.ndarray | None = None,
    carry: object = None,
) -> tuple[UnitStats, np.ndarray]:
    """The local step on one unit; returns its statistics and ``N_theta + alpha``.

    ``rows`` are :func:`scvb0_parameter_rows` for ``word_ids`` (or, with ``word_rows``,
    for a larger set of which ``word_rows[i]`` is ``word_ids[i]``). ``UnitStats`` fields:
    ``sstats`` the expected token counts per word and topic, ``elog_theta_sum`` the sum
    of ``E[log theta_j]`` under ``Dirichlet(N_theta_j + alpha)``, ``doc_bound`` the log
    predictive of the unit's tokens (nats), ``n_iter`` the sweeps made (burn-in plus the
    statistics pass, per document). ``log_shift`` and ``carry`` are unused.
    """
    start = int(batch.indptr[0])
    indptr = np.asarray(batch.indptr, dtype=np.int64) - start
    if len(word_index) != int(indptr[-1]):
        raise ValueError(
            f"word_index has {len(word_index)} entries for a unit of {int(indptr[-1])} "
            "non-zeros (see unit_vocabulary: it returns word_ids, word_index)"
        )
    expected_rows = len(word_ids) if word_rows is None else len(word_rows)
    if word_rows is None and len(rows) != expected_rows:
        raise ValueError(f"rows has {len(rows)} rows for {len(word_ids)} word ids")
    if word_rows is not None and len(word_rows) != len(word_ids):
        raise ValueError(f"word_rows has {len(word_rows)} entries for {len(word_ids)} word ids")
    counts = np.asarray(batch.counts[start : start + int(indptr[-1])], dtype=np.float64)
    n_theta = document_start(batch.doc_ids, len(alpha), settings.seed)
    out = run_scvb0_local(
        indptr, word_index, counts, rows, alpha, n_theta,
        burn_in=settings.burn_in, step_scale=settings.step_scale,
        step_offset=settings.step_offset, step_decay=settings.step_decay,
        n_threads=n_threads, word_rows=word_rows,
    )
    theta_weight = out["theta_weight"]
    elog_theta = digamma(theta_weight) - digamma(theta_weight.sum(axis=1, keepdims=True))
    sstats = out["sstats"]
    if rows.dtype == np.float32:
        sstats = sstats.astype(np.float32)  # as SVI's: half the bytes from a Dask worker
    stats = UnitStats(
        word_ids=word_ids,
        sstats=sstats,
        n_docs=batch.n_docs,
        n_tokens=float(counts.sum()),
        elog_theta_sum=elog_theta.sum(axis=0),
        theta_sum=(theta_weight / theta_weight.sum(axis=1, keepdims=True)).sum(axis=0),
        doc_bound=float(out["doc_loglik"].sum()),
        n_iter=batch.n_docs * (settings.burn_in + 1),
        word_counts=weighted_bincount(word_index, counts, len(word_ids)),
    )
    return stats, theta_weight


def scvb0_global_update(
    state: GlobalState,
    stats: UnitStats,
    schedule: RobbinsMonro,
    *,
    total_samples: float,
    learn_alpha: bool,
    seconds: float,
    rho: float | None = None,
    n_threads: int = 1,
) -> StepMetrics:
    """``N_phi <- (1 - rho) N_phi + rho (D / S) stats``, then alpha if it is learned.

    ``total_samples`` is D, the corpus size in documents; S is ``stats.n_docs``. This is
    :func:`~svi_lda.state.natural_gradient_step` itself (``N_phi = lambda - eta``). A
    minibatch without tokens leaves the counts as they are (a step would only shrink
    them).
    """
    rho = schedule.rho(state.step) if rho is None else rho
    step_rho = rho if stats.n_tokens > 0 else 0.0
    natural_gradient_step(
        state, stats.word_ids, stats.sstats, batch_n_docs=stats.n_docs,
        total_samples=total_samples, rho=step_rho, n_threads=n_threads,
    )
    return finish_step(state, stats, rho, learn_alpha=learn_alpha, seconds=seconds)


FOLD_IN_SWEEPS = 10
"""Sweeps of ``transform``'s fold-in: 10 folded in held-out documents better than 3
(completion perplexity 2,247 against 2,277, ``benchmarks/results/scvb0.md``)."""


def content_start(batch: Batch, n_components: int, seed: int) -> np.ndarray:
    """:func:`document_start` keyed by each document's content (word ids and counts, as
    :func:`~svi_lda.step.content_gamma`) instead of its id: inference's start."""
    u = (content_gamma(batch, n_components, seed) - 0.8) / 0.4
    return 0.01 - np.log1p(-np.clip(u, 0.0, 1.0 - 2.0**-53))


def scvb0_fold_in(
    state: GlobalState, batch: Batch, seed: int, n_threads: int = 1,
    sweeps: int = FOLD_IN_SWEEPS,
) -> np.ndarray:
    """``N_theta_j + alpha`` of each document of ``batch`` (``indptr`` from 0) under the
    fixed topics: ``sweeps`` sweeps of the SCVB0 document update
    (:func:`~svi_lda.numerics.scvb0.scvb0_documents`) from :func:`content_start`.

    Shape (n_docs, K); a row divided by its sum is the document's topic proportions (an
    empty document's is the normalised alpha). Bitwise the same for any ``n_threads``
    and wherever a document sits in ``batch``. Costs O(sweeps x non-zeros x K).
    """
    ids, index = unit_vocabulary(batch)
    beta, _ = scvb0_parameter_rows(state, ids, n_threads)
    n_theta = content_start(batch, state.n_components, seed)
    return fold_in_documents(
        np.asarray(batch.indptr, dtype=np.int64), index,
        np.asarray(batch.counts, dtype=np.float64), beta, state.alpha, n_theta,
        burn_in=sweeps, n_threads=n_threads,
    )


def scvb0_theta(
    state: GlobalState, batch: Batch, settings: CollapsedSettings, *, n_threads: int = 1
) -> np.ndarray:
    """Documents' topic proportions by the SCVB0 local step under fixed topics:
    ``(N_theta_j + alpha) / (C_j + sum alpha)``, shape (n_docs, K)."""
    ids, index = unit_vocabulary(batch)
    rows, shift = scvb0_parameter_rows(state, ids, n_threads)
    _, theta_weight = scvb0_local_step(
        batch, index, ids, rows, shift, state.alpha, settings, n_threads=n_threads
    )
    return theta_weight / theta_weight.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class StochasticCollapsedVB0:
    """SCVB0: one Robbins-Monro step on the expected counts per minibatch."""

    name: str = "scvb0"
    figure_label: str = FIGURE_LABEL
    grouping: str = "minibatches"
    seeds_topics: bool = False
    keeps_local_state: bool = False
    cumulative_statistics: bool = True
    corpus_size_unit: str = "documents"

    def settings(self, base: EStepSettings, state: GlobalState) -> CollapsedSettings:
        return CollapsedSettings(seed=base.seed)

    def parameter_rows(
        self, state: GlobalState, word_ids: np.ndarray, n_threads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        return scvb0_parameter_rows(state, word_ids, n_threads)

    local_step = staticmethod(scvb0_local_step)
    fold_in = staticmethod(scvb0_fold_in)

    def global_update(
        self, state: GlobalState, stats: UnitStats, context: UpdateContext
    ) -> tuple[StepMetrics, float]:
        metrics = scvb0_global_update(
            state, stats, context.schedule, total_samples=context.total_samples,
            learn_alpha=context.learn_alpha, seconds=context.seconds,
            n_threads=context.n_threads,
        )
        return metrics, metrics.bound_per_token


METHOD = StochasticCollapsedVB0()
