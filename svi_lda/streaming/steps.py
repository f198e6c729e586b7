"""The one place the streamer takes an SVI step, in this process or with its E-steps on a
Dask cluster.

A minibatch is split into units of ``UNIT_DOCS`` documents (fixed, whatever the number of
workers or threads); each unit's E-step runs against exp(E[log beta]) rows computed once
for the minibatch's words, and the units' statistics are summed in unit order
(:func:`svi_lda.step.merge_unit_stats`), then :func:`svi_lda.step.apply_step` updates the
model. Both engines use exactly these functions and this order, so their models are
bitwise the same.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from svi_lda.batch import Batch
from svi_lda.state import GlobalState
from svi_lda.step import (
    EStepSettings,
    StepMetrics,
    UnitStats,
    apply_step,
    estep_unit,
    merge_unit_stats,
    minibatch_estep,
    unit_vocabulary,
)
from svi_lda.streaming.scaling import StreamScaling

UNIT_DOCS = 512


def split_units(batch: Batch, unit_docs: int = UNIT_DOCS) -> list[Batch]:
    """Consecutive units of at most ``unit_docs`` documents (views of ``batch``)."""
    bounds = list(range(0, batch.n_docs, unit_docs)) + [batch.n_docs]
    return [
        Batch(batch.indptr[a : b + 1], batch.indices, batch.counts, batch.doc_ids[a:b],
              batch.n_features)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ] or [batch]


def take_step(
    model: Any, batch: Batch, scaling: StreamScaling, *, n_docs_before: int,
    client: Any = None,
) -> StepMetrics:
    """One SVI step of ``model`` (an OnlineLDA with a state) on ``batch``.

    ``n_docs_before`` counts the stream's documents used before this minibatch (for the
    stationary mode's D). With ``client`` (a ``distributed.Client``) the units' E-steps run
    on the cluster.
    """
    units = split_units(batch)
    model._seed_if_new(units)
    started = time.perf_counter()
    if client is None:
        stats = minibatch_estep(
            model.state_, units, model._settings(), n_threads=model._n_threads()
        )
    else:
        stats = cluster_estep(client, model.state_, units, model._settings())
    metrics = apply_step(
        model.state_,
        stats,
        model._schedule(),
        rho=scaling.rho(model.state_.step, n_docs_before, batch.n_docs),
        total_samples=scaling.total_samples(n_docs_before, batch.n_docs),
        learn_alpha=model._learn_alpha,
        seconds=time.perf_counter() - started,
        n_threads=model._n_threads(),
    )
    model.bound_history_.append(metrics.bound_per_token)
    return metrics


def unit_estep_task(
    unit: Batch, word_index: np.ndarray, word_ids: np.ndarray, rows: np.ndarray,
    log_shift: np.ndarray, alpha: np.ndarray, settings: EStepSettings,
) -> UnitStats:
    """A unit's E-step on a worker (pure: Dask may re-run it anywhere)."""
    stats, _ = estep_unit(unit, word_index, word_ids, rows, log_shift, alpha, settings)
    return stats


def cluster_estep(
    client: Any, state: GlobalState, units: list[Batch], settings: EStepSettings
) -> UnitStats:
    """:func:`svi_lda.step.minibatch_estep` with each unit's E-step a task on ``client``."""
    vocabularies = [unit_vocabulary(u) for u in units]
    if len(units) == 1:
        union = vocabularies[0][0]
    else:
        union = np.unique(np.concatenate([ids for ids, _ in vocabularies]))
    rows, log_shift = state.exp_elog_beta_rows(union)
    futures = []
    for unit, (ids, index) in zip(units, vocabularies, strict=True):
        pos = np.searchsorted(union, ids)
        futures.append(
            client.submit(
                unit_estep_task, unit, index, ids, rows[pos], log_shift[pos], state.alpha,
                settings, pure=False,
            )
        )
    return merge_unit_stats(client.gather(futures))
