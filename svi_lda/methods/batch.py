"""``learning_method="batch"``: coordinate ascent (CAVI) over the whole corpus each pass.

Local step: each document's E-step from its gamma of the previous pass (so its bound
cannot drop below last pass's: the ELBO never decreases) and from a fresh seeded start,
keeping the better; a warm start alone stays near its old optimum and the topics barely
move. Plain updates only (no extrapolation): each raises the document's bound, which the
guarantee rests on. Global update: ``lambda := eta + sstats`` (a step with rho = 1 and
S = D), then alpha when learned. A pass is reported as a step with rho 1 and the exact
ELBO per token; ``bound_history_`` records the exact ELBO (nats) after each pass.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from svi_lda.batch import Batch
from svi_lda.bounds import topic_bound
from svi_lda.methods import UpdateContext
from svi_lda.state import GlobalState, natural_gradient_step, update_alpha
from svi_lda.step import (
    EStepSettings,
    StepMetrics,
    UnitStats,
    estep_unit,
    svi_parameter_rows,
)


def batch_local_step(
    batch: Batch,
    word_index: np.ndarray,
    word_ids: np.ndarray,
    rows: np.ndarray,
    log_shift: np.ndarray,
    alpha: np.ndarray,
    settings: EStepSettings,
    *,
    n_threads: int = 1,
    word_rows: np.ndarray | None = None,
    carry: Any = None,
) -> tuple[UnitStats, Any]:
    """E-step of a unit warm-started from its gamma of the last pass (``carry``), with a
    restart from the seeded start; returns the statistics and the new gamma."""
    return estep_unit(
        batch, word_index, word_ids, rows, log_shift, alpha, settings,
        n_threads=n_threads, gamma=carry, restart=True, word_rows=word_rows,
    )


@dataclass(frozen=True)
class BatchCAVI:
    """Batch coordinate ascent: every unit each pass, then lambda := eta + sstats."""

    name: str = "batch"
    figure_label: str = "ELBO per token (nats, exact, after the pass)"
    grouping: str = "pass"
    seeds_topics: bool = True
    keeps_local_state: bool = True
    corpus_size_unit: str = "documents"
    cumulative_statistics: bool = False

    def settings(self, base: EStepSettings, state: GlobalState) -> EStepSettings:
        return dataclasses.replace(base, accelerate=False)

    def parameter_rows(
        self, state: GlobalState, word_ids: np.ndarray, n_threads: int
    ) -> tuple[np.ndarray, np.ndarray]:
        return svi_parameter_rows(state, word_ids, n_threads)

    local_step = staticmethod(batch_local_step)

    def global_update(
        self, state: GlobalState, stats: UnitStats, context: UpdateContext
    ) -> tuple[StepMetrics, float]:
        # The exact ELBO at the pass's final gamma and the lambda the pass started from.
        bound = topic_bound(state) + stats.doc_bound
        natural_gradient_step(
            state, stats.word_ids, stats.sstats, batch_n_docs=stats.n_docs,
            total_samples=stats.n_docs, rho=1.0, n_threads=context.n_threads,
        )
        if context.learn_alpha:
            state.alpha = update_alpha(state.alpha, stats.elog_theta_sum, stats.n_docs, 1.0)
        metrics = StepMetrics.of_pass(
            state.step, n_docs=stats.n_docs, n_tokens=stats.n_tokens,
            seconds=context.seconds,
            mean_doc_iterations=stats.n_iter / max(stats.n_docs, 1),
            bound_per_token=bound / stats.n_tokens if stats.n_tokens else 0.0,
        )
        return metrics, bound


METHOD = BatchCAVI()
