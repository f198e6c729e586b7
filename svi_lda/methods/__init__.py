"""Learning methods: each is a local step on a unit and a global update on the state.

The run loop (:mod:`svi_lda.training`) and every engine know a method only through
:class:`LearningMethod`. A method lives in one module of this package that defines
``METHOD``, an instance whose ``name`` is the ``learning_method`` string that selects it:
adding a method is adding a module here, with no branch anywhere else.

Contract of the two pieces:

- ``local_step(batch, word_index, word_ids, rows, log_shift, alpha, settings, *,
  n_threads, word_rows, carry) -> (UnitStats, carry)`` runs on one unit, wherever the
  engine puts it (a thread, a Dask worker), from the parameter rows the coordinator sent
  for the unit's words (``parameter_rows``), and returns additive statistics (merged by
  :func:`~svi_lda.step.merge_unit_stats`). ``carry`` is the unit's own state from the previous
  pass (methods with ``keeps_local_state``; None the first time).
- ``global_update(state, stats, context) -> (StepMetrics, bound_entry)`` changes the
  state from the merged statistics; ``bound_entry`` is what ``bound_history_`` records.

Optional: ``fold_in(state, batch, seed, n_threads) -> weights (n_docs, K)``, the
method's own inference for ``transform`` (rows divided by their sums are the documents'
topic proportions; each document started from its content, so a row does not depend on
the rest of the input). Methods without it are queried by SVI's E-step.

``grouping`` says how the loop groups a source's units into steps: ``"minibatches"``
(``batch_size`` documents a step), ``"pass"`` (every unit in each step) or ``"whole"``
(the whole corpus as one unit in each step).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np

from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState
from svi_lda.step import EStepSettings, StepMetrics, UnitStats

GROUPINGS = ("minibatches", "pass", "whole")


@dataclass(frozen=True)
class UpdateContext:
    """What a global update needs besides the state and the merged statistics."""

    schedule: RobbinsMonro
    total_samples: float
    learn_alpha: bool
    n_threads: int
    seconds: float


class LearningMethod(Protocol):
    """The pieces a run loop plugs in for one ``learning_method``."""

    name: str
    figure_label: str
    """What the per-step figure (``StepMetrics.bound_per_token``, ``history_["figure"]``) is."""
    grouping: str
    seeds_topics: bool
    """Whether ``init="documents"`` seeds the topics before the first step."""
    keeps_local_state: bool
    """Whether ``local_step`` continues from its ``carry`` of the previous pass."""
    cumulative_statistics: bool
    """Whether the per-topic statistics add up over steps (True) or are the last pass's."""
    corpus_size_unit: str
    """What ``total_samples`` counts for this method: ``"documents"`` or ``"tokens"``."""

    def settings(self, base: EStepSettings, state: GlobalState) -> Any:
        """The settings object each local step is given (picklable: it travels)."""
        ...

    def parameter_rows(
        self, state: GlobalState, word_ids: np.ndarray, n_threads: int
    ) -> tuple[np.ndarray, np.ndarray]: ...

    local_step: Callable[..., tuple[UnitStats, Any]]

    def global_update(
        self, state: GlobalState, stats: UnitStats, context: UpdateContext
    ) -> tuple[StepMetrics, float]: ...


@cache
def _registry() -> dict[str, LearningMethod]:
    found: dict[str, LearningMethod] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        method = getattr(module, "METHOD", None)
        if method is not None:
            found[method.name] = method
    return found


def default_total_samples(method: LearningMethod, n_docs: float, n_tokens: float) -> float:
    """The corpus size a fit scales its steps to when ``total_samples`` is None: the
    source's documents or its tokens, as the method's ``corpus_size_unit`` says
    (documents when it does not say)."""
    unit = getattr(method, "corpus_size_unit", "documents")
    return float(n_tokens if unit == "tokens" else n_docs)


def method_names() -> tuple[str, ...]:
    """The ``learning_method`` values there are: the default ("online") first."""
    return tuple(sorted(_registry(), key=lambda name: (name != "online", name)))


def get_method(name: str) -> LearningMethod:
    """The method registered as ``name`` (a ``learning_method`` value)."""
    methods = _registry()
    if name not in methods:
        raise ValueError(
            "The 'learning_method' parameter of OnlineLDA must be a str among "
            f"{{{', '.join(repr(n) for n in method_names())}}}. Got {name!r} instead."
        )
    return methods[name]
