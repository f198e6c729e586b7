"""``learning_method="online"``: stochastic variational inference (Hoffman et al. 2013).

Local step: the mean-field E-step of each document from its seeded start
(:func:`~svi_lda.step.estep_unit`, kernel in :mod:`svi_lda.numerics.estep`). Global
update: the natural-gradient step ``lambda <- (1 - rho) lambda + rho (eta + (D/S)
sstats)`` in the lazy form (:func:`~svi_lda.step.apply_step`), then alpha when learned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svi_lda.methods import UpdateContext
from svi_lda.state import GlobalState
from svi_lda.step import (
    EStepSettings,
    StepMetrics,
    UnitStats,
    apply_step,
    svi_local_step,
    svi_parameter_rows,
)


@dataclass(frozen=True)
class OnlineSVI:
    """Stochastic variational inference: one natural-gradient step per minibatch."""

    name: str = "online"
    figure_label: str = "minibatch ELBO per token (nats)"
    grouping: str = "minibatches"
    seeds_topics: bool = True
    keeps_local_state: bool = False
    corpus_size_unit: str = "documents"
    cumulative_statistics: bool = True

    def settings(self, base: EStepSettings, state: GlobalState) -> EStepSettings:
        return base

    def parameter_rows(
        self, state: GlobalState, word_ids: np.ndarray, n_threads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        return svi_parameter_rows(state, word_ids, n_threads)

    local_step = staticmethod(svi_local_step)

    def global_update(
        self, state: GlobalState, stats: UnitStats, context: UpdateContext
    ) -> tuple[StepMetrics, float]:
        metrics = apply_step(
            state,
            stats,
            context.schedule,
            total_samples=context.total_samples,
            learn_alpha=context.learn_alpha,
            seconds=context.seconds,
            n_threads=context.n_threads,
        )
        return metrics, metrics.bound_per_token


METHOD = OnlineSVI()
