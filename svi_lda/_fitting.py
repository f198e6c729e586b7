"""How ``OnlineLDA.fit`` walks each kind of input: which documents go into which step.

In memory, documents are shuffled between passes with a seeded permutation (corpora are
often sorted, e.g. by label, and SVI assumes random minibatches). A Parquet corpus is
walked as :func:`svi_lda.corpus.plan_minibatches` says, the same plan the Dask engine
follows.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from svi_lda._validation import check_doc_term_matrix
from svi_lda.batch import Batch, concat_batches
from svi_lda.bounds import topic_bound
from svi_lda.collapsed import fit_cvb0
from svi_lda.state import natural_gradient_step, update_alpha
from svi_lda.step import StepMetrics, estep_unit, unit_vocabulary

if TYPE_CHECKING:
    from svi_lda.estimator import Callback, OnlineLDA

logger = logging.getLogger("svi_lda.estimator")


def fit_any(
    model: OnlineLDA, X: Any, *, vocabulary: Any, callbacks: Sequence[Callback]
) -> None:
    """Dispatch ``fit`` on the kind of ``X``."""
    corpus = _as_corpus(X)
    if corpus is not None:
        model.vocabulary_ = vocabulary if vocabulary is not None else corpus.vocabulary
        _fit_corpus(model, corpus, callbacks)
    elif _is_minibatch_list(X):
        model.vocabulary_ = vocabulary
        batches = _minibatch_list(X)
        _fit_units(model, lambda epoch: [[b] for b in batches], batches, callbacks)
    elif _is_minibatch_iterator(X):
        model.vocabulary_ = vocabulary
        _fit_iterator(model, X, callbacks)
    else:
        model.vocabulary_ = vocabulary
        if isinstance(X, list | tuple) and X and isinstance(X[0], str):
            raise ValueError(
                "fit does not take raw strings: ingest them first ('svi-lda ingest' or "
                "svi_lda.corpus.ingest) and fit on the corpus folder."
            )
        _fit_matrix(model, check_doc_term_matrix(X, n_features=None), callbacks)
    _check_vocabulary(model)


def _check_vocabulary(model: OnlineLDA) -> None:
    vocab = model.vocabulary_
    if vocab is not None and len(vocab) != model.n_features_in_:
        raise ValueError(
            f"vocabulary has {len(vocab)} words but the data has {model.n_features_in_} "
            "columns; pass the vocabulary the matrix was built with."
        )


def _fit_matrix(model: OnlineLDA, X: sp.csr_matrix, callbacks: Sequence[Callback]) -> None:
    n_docs = X.shape[0]
    model._init_state(X.shape[1])
    batch_size = int(model.batch_size)
    if model.learning_method == "cvb0":
        fit_cvb0(model, X, callbacks)
        return
    if model.learning_method == "batch":
        units = [
            Batch.from_csr(X[i : i + batch_size], first_doc_id=i)
            for i in range(0, n_docs, batch_size)
        ]
        _fit_batch_mode(model, units, callbacks)
        return
    total = _corpus_size(model, n_docs, float(X.sum()))
    for epoch in range(int(model.max_iter)):
        order = np.random.default_rng([model.random_seed_, epoch]).permutation(n_docs)
        for start in range(0, n_docs, batch_size):
            rows = np.sort(order[start : start + batch_size])
            unit = Batch.from_csr(X[rows], doc_ids=rows)
            model._step([unit], total_samples=total, callbacks=callbacks)
        model.n_iter_ += 1
        _log_pass(model, epoch)


def _fit_units(model, plan, units_for_shape, callbacks) -> None:
    """Online or batch fit over units already in memory; ``plan(epoch)`` groups them."""
    model._init_state(units_for_shape[0].n_features)
    if model.learning_method == "cvb0":
        fit_cvb0(model, concat_batches(list(units_for_shape)).to_csr(), callbacks)
        return
    if model.learning_method == "batch":
        _fit_batch_mode(model, units_for_shape, callbacks)
        return
    total = _corpus_size(
        model,
        sum(u.n_docs for u in units_for_shape),
        sum(u.n_tokens for u in units_for_shape),
    )
    for epoch in range(int(model.max_iter)):
        for group in plan(epoch):
            model._step(group, total_samples=total, callbacks=callbacks)
        model.n_iter_ += 1
        _log_pass(model, epoch)


def _fit_batch_mode(
    model: OnlineLDA, units: Sequence[Batch], callbacks: Sequence[Callback]
) -> None:
    """CAVI passes; each pass is a step of rho = 1 for callbacks and logs."""
    gammas: dict[int, np.ndarray] = {}
    model._seed_if_new(units)
    for epoch in range(int(model.max_iter)):
        t0 = time.perf_counter()
        bound, n_docs, n_tokens, n_iter = _batch_pass(model, units, gammas)
        seconds = time.perf_counter() - t0
        model.bound_history_.append(bound)
        model.n_iter_ += 1
        metrics = StepMetrics.of_pass(
            epoch + 1, n_docs=n_docs, n_tokens=n_tokens, seconds=seconds,
            mean_doc_iterations=n_iter / max(n_docs, 1),
            bound_per_token=bound / n_tokens if n_tokens else 0.0,
        )
        if model.verbose:
            logger.info("pass %d: ELBO %.6e nats (%.4f per token), %.0f docs/s",
                        epoch + 1, bound, metrics.bound_per_token, metrics.docs_per_second)
        for callback in callbacks:
            callback(metrics)


def _batch_pass(
    model: OnlineLDA, units: Sequence[Batch], gammas: dict[int, np.ndarray]
) -> tuple[float, int, float, int]:
    """One CAVI pass: E-step on every unit, then lambda := eta + sstats.

    Each document runs from its gamma of the previous pass (so its bound cannot drop
    below last pass's: the ELBO never decreases) and from a fresh start, and keeps the
    better; a warm start alone stays near its old optimum and the topics barely move.
    Returns the exact ELBO at the pass's final gamma and the lambda it started from, and
    the pass's documents, tokens and document iterations.
    """
    state = model.state_
    # Plain updates only: each raises the document's bound, which the guarantee rests on.
    settings = dataclasses.replace(model._settings(), accelerate=False)
    sstats = np.zeros((state.n_features, state.n_components), dtype=np.float64)
    elog_theta_sum = np.zeros(state.n_components)
    bound = topic_bound(state)
    n_docs, n_tokens, n_iter = 0, 0.0, 0
    for i, unit in enumerate(units):
        ids, index = unit_vocabulary(unit)
        rows, shift = state.exp_elog_beta_rows(ids, n_threads=model._n_threads())
        stats, gammas[i] = estep_unit(
            unit, index, ids, rows, shift, state.alpha, settings,
            n_threads=model._n_threads(), gamma=gammas.get(i), restart=True,
        )
        sstats[ids] += stats.sstats
        elog_theta_sum += stats.elog_theta_sum
        bound += stats.doc_bound
        n_docs += stats.n_docs
        n_tokens += stats.n_tokens
        n_iter += stats.n_iter
    natural_gradient_step(
        state, np.arange(state.n_features), sstats,
        batch_n_docs=n_docs, total_samples=n_docs, rho=1.0, n_threads=model._n_threads(),
    )
    if model._learn_alpha:
        state.alpha = update_alpha(state.alpha, elog_theta_sum, n_docs, 1.0)
    return bound, n_docs, n_tokens, n_iter


def _fit_corpus(model: OnlineLDA, corpus: Any, callbacks: Sequence[Callback]) -> None:
    from svi_lda.corpus import plan_minibatches

    model._init_state(corpus.n_features)
    if model.learning_method == "cvb0":
        fit_cvb0(model, corpus.to_csr(), callbacks)
        return
    if model.learning_method == "batch":
        _fit_batch_mode(model, _LazyUnits(corpus), callbacks)
        return
    total = _corpus_size(model, corpus.n_docs, float(corpus.n_tokens))
    for epoch in range(int(model.max_iter)):
        plan = plan_minibatches(
            corpus.units, int(model.batch_size), epoch=epoch, seed=model.random_seed_
        )
        for group in plan:
            units = [corpus.read_unit(u) for u in group]
            model._step(units, total_samples=total, callbacks=callbacks)
        model.n_iter_ += 1
        _log_pass(model, epoch)


class _LazyUnits(Sequence):
    """A corpus's row groups as a sequence of Batches, read when iterated (batch mode)."""

    def __init__(self, corpus: Any) -> None:
        self._corpus = corpus

    def __len__(self) -> int:
        return len(self._corpus.units)

    def __getitem__(self, i):  # type: ignore[override]
        return self._corpus.read_unit(self._corpus.units[i])


def _fit_iterator(model: OnlineLDA, batches: Iterator[Any], callbacks) -> None:
    if model.learning_method == "cvb0":
        raise ValueError(
            "learning_method='cvb0' sweeps the whole corpus many times: fit it on a matrix, "
            "a list of minibatches or a corpus folder, not on an iterator."
        )
    if model.total_samples is None:
        unit = "tokens" if model.learning_method == "scvb0" else "documents"
        raise ValueError(
            "Fitting on an iterator of minibatches needs total_samples (D, the number of "
            f"{unit} the stream stands for): OnlineLDA(total_samples=...)."
        )
    first_doc = 0
    for X in batches:
        if getattr(model, "state_", None) is None:
            Xc = check_doc_term_matrix(X, n_features=None)
            model._init_state(Xc.shape[1])
        else:
            Xc = check_doc_term_matrix(X, n_features=model.n_features_in_)
        unit = Batch.from_csr(Xc, first_doc_id=first_doc)
        first_doc += unit.n_docs
        model._step([unit], total_samples=float(model.total_samples), callbacks=callbacks)
    if getattr(model, "state_", None) is None:
        raise ValueError("The iterator of minibatches was empty: nothing to fit.")
    model.n_iter_ = 1


def _corpus_size(model: OnlineLDA, n_docs: int, n_tokens: float) -> float:
    """``total_samples``, or the data's own size: documents, or tokens for "scvb0"."""
    if model.total_samples is not None:
        return float(model.total_samples)
    return float(n_tokens if model.learning_method == "scvb0" else n_docs)


def _log_pass(model: OnlineLDA, epoch: int) -> None:
    if model.verbose:
        recent = model.bound_history_[-10:]
        logger.info(
            "pass %d done: %d steps, recent bound/token %.4f",
            epoch + 1,
            model.state_.step,
            float(np.mean(recent)) if recent else float("nan"),
        )


def _as_corpus(X: Any) -> Any:
    if isinstance(X, str | os.PathLike):
        from svi_lda.corpus import ParquetCorpus

        return ParquetCorpus(X)
    if type(X).__name__ == "ParquetCorpus":
        return X
    return None


def _is_minibatch_list(X: Any) -> bool:
    return isinstance(X, list | tuple) and len(X) > 0 and all(
        sp.issparse(x) or isinstance(x, Batch) for x in X
    )


def _minibatch_list(X: Sequence[Any]) -> list[Batch]:
    batches: list[Batch] = []
    first_doc = 0
    n_features = None
    for i, x in enumerate(X):
        if isinstance(x, Batch):
            batch = x
        else:
            batch = Batch.from_csr(
                check_doc_term_matrix(x, n_features=n_features, name=f"minibatch {i}"),
                first_doc_id=first_doc,
            )
        if n_features is not None and batch.n_features != n_features:
            raise ValueError(
                f"minibatch {i} has {batch.n_features} columns, minibatch 0 has {n_features}."
            )
        n_features = batch.n_features
        first_doc += batch.n_docs
        batches.append(batch)
    return batches


def _is_minibatch_iterator(X: Any) -> bool:
    return isinstance(X, Iterator) or (
        isinstance(X, Iterable)
        and not isinstance(X, list | tuple | str | bytes | np.ndarray)
        and not sp.issparse(X)
    )
