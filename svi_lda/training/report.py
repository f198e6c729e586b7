"""What the run loop records after each step: history, per-topic statistics, callbacks.

On the model (initialised by ``OnlineLDA._init_state``):

- ``history_``: equal-length lists of floats under :data:`HISTORY_KEYS`, one entry per
  step (every other one dropped each time they pass :data:`HISTORY_LIMIT`): the step
  number, documents seen, the method's figure (``figure_label_`` names it: the minibatch
  ELBO per token for SVI), rho, the vocabulary size and the seconds.
- ``bound_history_``: what each method records there (see ``OnlineLDA``).
- ``term_frequency_`` (V,): tokens of each word used in training steps;
  ``topic_token_counts_`` (K,): expected tokens per topic (column sums of the merged
  statistics); ``topic_doc_counts_`` (K,): sum over documents of E_q[theta_d]. Methods
  that step through the corpus add them up over the steps (O(K x minibatch words) a
  step, never O(V)); methods that make whole passes keep the last pass's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from svi_lda.methods import LearningMethod
from svi_lda.numerics.scatter import column_sums
from svi_lda.step import StepMetrics, UnitStats

logger = logging.getLogger("svi_lda.training")

HISTORY_KEYS = ("step", "n_docs_seen", "figure", "rho", "n_features", "seconds")

HISTORY_LIMIT = 20_000
"""Entries ``history_`` and ``bound_history_`` hold at most before they are thinned (every
other entry dropped, the first and the last kept): a stream that never ends keeps a
training curve of bounded size (at most ~1 MiB in a model file), at half the resolution
each time it doubles."""


@dataclass(frozen=True)
class StepReport:
    """What the loop reports after each step (progress display and logs).

    Attributes
    ----------
    metrics : StepMetrics
        The record callbacks get.
    epoch, position : int
        Pass of the step and its index in that pass's plan.
    n_units : int
        Units (row groups, minibatches) in the step.
    bytes_to_workers, bytes_from_workers : int
        Array payload sent with the step's tasks (exp(E[log beta]) rows, shifts, alpha)
        and returned by them (word ids, sufficient statistics); 0 in process.
    wall_seconds : float
        Time since the previous step ended (includes coordinator work).
    coordinator_seconds : float
        Coordinator compute of the step: parameter rows, merge and update (the serial
        part while workers wait, on Dask in exact mode).
    checkpointed : bool
        Whether a checkpoint was written after this step.
    """

    metrics: StepMetrics
    epoch: int
    position: int
    n_units: int
    bytes_to_workers: int
    bytes_from_workers: int
    wall_seconds: float
    coordinator_seconds: float
    checkpointed: bool


def init_records(model: Any, method: LearningMethod) -> None:
    """Empty history and zero per-topic statistics for a model whose state was just made."""
    state = model.state_
    model.history_ = {key: [] for key in HISTORY_KEYS}
    model.figure_label_ = method.figure_label
    model.bound_history_ = []
    model.term_frequency_ = np.zeros(state.n_features)
    model.topic_token_counts_ = np.zeros(state.n_components)
    model.topic_doc_counts_ = np.zeros(state.n_components)


def ensure_records(model: Any, method: LearningMethod) -> None:
    """Create what a model made elsewhere (loaded, say) lacks; grow with the vocabulary."""
    state = model.state_
    if getattr(model, "history_", None) is None:
        model.history_ = {key: [] for key in HISTORY_KEYS}
    if getattr(model, "bound_history_", None) is None:
        model.bound_history_ = []
    model.figure_label_ = method.figure_label
    for name, size in (("topic_token_counts_", state.n_components),
                       ("topic_doc_counts_", state.n_components)):
        if getattr(model, name, None) is None:
            setattr(model, name, np.zeros(size))
    frequency = getattr(model, "term_frequency_", None)
    if frequency is None:
        model.term_frequency_ = np.zeros(state.n_features)
    elif len(frequency) < state.n_features:  # new words (a stream)
        model.term_frequency_ = np.concatenate(
            [frequency, np.zeros(state.n_features - len(frequency))]
        )


def record_step(
    model: Any,
    method: LearningMethod,
    stats: UnitStats,
    metrics: StepMetrics,
    bound_entry: float,
) -> None:
    """Append the step to the history and add its statistics to the per-topic ones."""
    ensure_records(model, method)
    state = model.state_
    model.bound_history_.append(bound_entry)
    entry = (metrics.step, state.n_docs_seen, metrics.bound_per_token, metrics.rho,
             state.n_features, metrics.seconds)
    for key, value in zip(HISTORY_KEYS, entry, strict=True):
        model.history_[key].append(float(value))
    _thin(model)
    word_tokens = stats.word_counts
    if word_tokens is None:
        word_tokens = stats.sstats.sum(axis=1, dtype=np.float64)
    topic_tokens = column_sums(stats.sstats)
    if method.cumulative_statistics:
        model.term_frequency_[stats.word_ids] += word_tokens
        model.topic_token_counts_ += topic_tokens
        model.topic_doc_counts_ += stats.theta_sum
    else:
        model.term_frequency_[...] = 0.0
        model.term_frequency_[stats.word_ids] = word_tokens
        model.topic_token_counts_ = topic_tokens
        model.topic_doc_counts_ = np.array(stats.theta_sum, dtype=np.float64)


def _thin(model: Any) -> None:
    """Halve the history once it passes :data:`HISTORY_LIMIT` (deterministic: it depends
    only on the number of steps, so a resumed run thins exactly as an uninterrupted one)."""
    for values in (*model.history_.values(), model.bound_history_):
        if len(values) > HISTORY_LIMIT:
            values[:] = values[:-1:2] + values[-1:]


def report_step(
    model: Any,
    method: LearningMethod,
    metrics: StepMetrics,
    *,
    report: StepReport,
    last_in_epoch: bool,
    callbacks: Sequence[Callable[[StepMetrics], object]],
    on_step: Callable[[StepReport], object] | None,
) -> None:
    """Log a step already recorded on the model (:func:`record_step`), and call the
    callbacks and ``on_step``."""
    if getattr(model, "verbose", 0):
        logger.info(
            "step %d: rho=%.4f docs=%d %.0f docs/s iters/doc=%.1f %s %.4f",
            metrics.step, metrics.rho, metrics.n_docs, metrics.docs_per_second,
            metrics.mean_doc_iterations, method.figure_label, metrics.bound_per_token,
        )
        if last_in_epoch and method.grouping == "minibatches":
            recent = model.history_["figure"][-10:]
            logger.info("pass %d done: %d steps, recent %s %.4f", report.epoch + 1,
                        model.state_.step, method.figure_label, float(np.mean(recent)))
    logger.debug(
        "step %d: sent %d B, received %d B, coordinator %.3f s", metrics.step,
        report.bytes_to_workers, report.bytes_from_workers, report.coordinator_seconds,
    )
    for callback in callbacks:
        callback(metrics)
    if on_step is not None:
        on_step(report)
