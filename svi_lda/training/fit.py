"""``OnlineLDA.fit`` and ``partial_fit``: pick the source for the input, run the loop.

Which documents go into which step is the source's business
(:mod:`svi_lda.training.sources`); the steps themselves are the run loop's
(:func:`svi_lda.training.loop.run_loop`), with the in-process engine.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from svi_lda._validation import check_doc_term_matrix
from svi_lda.batch import Batch
from svi_lda.methods import LearningMethod, default_total_samples, get_method
from svi_lda.step import Callback, StepMetrics
from svi_lda.training.loop import run_loop
from svi_lda.training.sources import (
    BatchListSource,
    CorpusSource,
    InMemoryUnits,
    IteratorSource,
    MatrixSource,
    Minibatch,
    walk,
)
from svi_lda.training.threads import ThreadEngine


def fit_model(
    model: Any, X: Any, *, vocabulary: Any, callbacks: Sequence[Callback]
) -> None:
    """Fit ``model`` from scratch on any input ``fit`` takes."""
    method = get_method(model.learning_method)
    source = _source_for(model, method, X)
    corpus = getattr(source, "corpus", None)
    model.vocabulary_ = vocabulary if vocabulary is not None or corpus is None else (
        corpus.vocabulary
    )
    has_sample = isinstance(source, MatrixSource | CorpusSource)
    model._init_state(source.n_features, anchor_sample=has_sample)
    if isinstance(source, IteratorSource):
        minibatches: Iterator[Minibatch] = source.walk()
        total = float(model.total_samples)
    else:
        minibatches = walk(
            source, grouping=method.grouping, batch_size=int(model.batch_size),
            seed=model.random_seed_, n_epochs=int(model.max_iter),
        )
        total = float(model.total_samples or default_total_samples(
            method, source.n_docs, source.n_tokens
        ))
    n_threads = model._n_threads()
    if model.init == "anchors":
        _start_from_anchors(model, method, source, total, n_threads)
    engine = ThreadEngine(model, method, source, n_threads=n_threads)
    run_loop(model, method, engine, minibatches, total_samples=total, n_threads=n_threads,
             callbacks=callbacks)
    if model.vocabulary_ is not None and len(model.vocabulary_) != model.n_features_in_:
        raise ValueError(
            f"vocabulary has {len(model.vocabulary_)} words but the data has "
            f"{model.n_features_in_} columns; pass the vocabulary the matrix was built with."
        )


def _start_from_anchors(
    model: Any, method: LearningMethod, source: Any, total: float, n_threads: int
) -> None:
    """``init="anchors"``: the topics from the first documents of the first pass."""
    from svi_lda.anchor_start import ANCHOR_SAMPLE_DOCS, anchor_start, first_documents

    plan = source.plan(0, method.grouping, int(model.batch_size), model.random_seed_)
    batches = (source.read(ref) for minibatch in plan for ref in minibatch)
    sample = first_documents(batches, ANCHOR_SAMPLE_DOCS)
    anchor_start(model.state_, sample, total_samples=total, seed=model.random_seed_,
                 n_threads=n_threads)


def train_step(
    model: Any,
    units: Sequence[Batch],
    *,
    total_samples: float,
    callbacks: Sequence[Callback] = (),
    on_step: Any = None,
    method: LearningMethod | None = None,
) -> StepMetrics:
    """One step of ``method`` on the minibatch made of ``units``, in process.

    ``method`` defaults to the model's own when it steps through minibatches, else SVI
    (a method that sweeps the whole corpus cannot step on one minibatch).

    The entry point for "here is one more minibatch": seeds the topics if the model has
    taken no step yet (``init="documents"``), runs the local steps, the global update,
    and records the step (history, per-topic statistics, callbacks, ``on_step``) exactly
    as ``fit`` does. ``model.state_`` must exist (``model._init_state(n_features)``).
    A long-lived loop (with checkpoints every N steps) is :func:`run_loop` over
    :class:`~svi_lda.training.sources.Minibatch` objects of Batches, with
    ``ThreadEngine(model, method, InMemoryUnits(n_features))``.
    """
    if method is None:
        method = get_method(model.learning_method)
        if method.grouping != "minibatches":
            method = get_method("online")
    source = InMemoryUnits(model.state_.n_features)
    step = Minibatch(0, 0, False, list(units))
    n_threads = model._n_threads()
    metrics = run_loop(
        model, method, ThreadEngine(model, method, source, n_threads=n_threads), iter([step]),
        total_samples=total_samples, n_threads=n_threads, callbacks=callbacks,
        on_step=on_step,
    )
    assert metrics is not None
    return metrics


def _source_for(model: Any, method: LearningMethod, X: Any) -> Any:
    """The source of units for ``fit``'s input ``X`` (validated)."""
    if isinstance(X, str | os.PathLike) or type(X).__name__ == "ParquetCorpus":
        from svi_lda.corpus import ParquetCorpus

        return CorpusSource(X if type(X).__name__ == "ParquetCorpus" else ParquetCorpus(X))
    if _is_minibatch_list(X):
        return BatchListSource.from_inputs(X)
    if _is_minibatch_iterator(X):
        if method.grouping != "minibatches":
            raise ValueError(
                f"learning_method={method.name!r} sweeps the whole corpus many times: fit "
                "it on a matrix, a list of minibatches or a corpus folder, not on an "
                "iterator."
            )
        if model.total_samples is None:
            raise ValueError(
                "Fitting on an iterator of minibatches needs total_samples (the number "
                f"of {method.corpus_size_unit} the stream stands for): "
                "OnlineLDA(total_samples=...)."
            )
        return IteratorSource(X)
    if isinstance(X, list | tuple) and X and isinstance(X[0], str):
        raise ValueError(
            "fit does not take raw strings: ingest them first ('svi-lda ingest' or "
            "svi_lda.corpus.ingest) and fit on the corpus folder."
        )
    return MatrixSource(check_doc_term_matrix(X, n_features=None))


def _is_minibatch_list(X: Any) -> bool:
    return isinstance(X, list | tuple) and len(X) > 0 and all(
        sp.issparse(x) or isinstance(x, Batch) for x in X
    )


def _is_minibatch_iterator(X: Any) -> bool:
    return isinstance(X, Iterator) or (
        isinstance(X, Iterable)
        and not isinstance(X, list | tuple | str | bytes | np.ndarray)
        and not sp.issparse(X)
    )

