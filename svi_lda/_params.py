"""OnlineLDA's constructor parameters checked and resolved (scikit-learn's messages).

Functions of the estimator's public parameters only, so the estimator's methods stay thin
and the rules live in one place: ``check_params`` at fit (and on load), ``initial_alpha``,
``initial_state``, ``n_threads``, ``resolve_seed`` and ``partial_fit_total_samples``.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from svi_lda._validation import check_positive_float, check_positive_int
from svi_lda.batch import Batch
from svi_lda.methods import get_method
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState

# scikit-learn's total_samples, which partial_fit uses when total_samples is None.
PARTIAL_FIT_TOTAL_SAMPLES = 1e6


def check_params(model: Any) -> None:
    """Raise a scikit-learn-style ValueError naming the first invalid parameter."""
    check_positive_int(model.n_components, "n_components")
    check_positive_int(model.max_iter, "max_iter")
    check_positive_int(model.batch_size, "batch_size")
    check_positive_int(model.max_doc_update_iter, "max_doc_update_iter")
    check_positive_float(model.mean_change_tol, "mean_change_tol")
    get_method(model.learning_method)  # a registered method, or a clear error
    if model.dtype not in ("float32", "float64"):
        raise ValueError(
            "The 'dtype' parameter of OnlineLDA must be a str among "
            f"{{'float32', 'float64'}}. Got {model.dtype!r} instead."
        )
    if model.init not in ("documents", "random", "anchors"):
        raise ValueError(
            "The 'init' parameter of OnlineLDA must be a str among "
            f"{{'documents', 'random', 'anchors'}}. Got {model.init!r} instead."
        )
    if model.init == "anchors" and model.learning_method != "scvb0":
        raise ValueError(
            "init='anchors' is supported with learning_method='scvb0' only; got "
            f"learning_method={model.learning_method!r}"
        )
    if model.total_samples is not None:
        check_positive_float(model.total_samples, "total_samples")
    if isinstance(model.evaluate_every, bool) or not isinstance(
        model.evaluate_every, int | np.integer
    ):
        raise ValueError(
            "The 'evaluate_every' parameter of OnlineLDA must be an int. "
            f"Got {model.evaluate_every!r} instead."
        )
    if isinstance(model.perp_tol, bool) or not (
        isinstance(model.perp_tol, float | int | np.number) and model.perp_tol >= 0
    ):
        raise ValueError(
            "The 'perp_tol' parameter of OnlineLDA must be a float in the range [0, inf). "
            f"Got {model.perp_tol!r} instead."
        )
    if model.topic_word_prior is not None:
        check_positive_float(model.topic_word_prior, "topic_word_prior")
    schedule(model)  # validates kappa and tau0


def initial_state(model: Any, n_features: int) -> GlobalState:
    """The starting state over ``n_features`` words (``model.random_seed_`` is set)."""
    eta = 1.0 / model.n_components if model.topic_word_prior is None else model.topic_word_prior
    return GlobalState.initialize(
        model.n_components,
        n_features,
        alpha=initial_alpha(model.n_components, model.doc_topic_prior),
        eta=float(eta),
        seed=model.random_seed_,
        dtype=model.dtype,
    )


def schedule(model: Any) -> RobbinsMonro:
    """The step-size schedule of ``learning_offset`` and ``learning_decay``."""
    return RobbinsMonro(tau0=float(model.learning_offset), kappa=float(model.learning_decay))


def initial_alpha(n_components: int, prior: Any) -> np.ndarray:
    """alpha at the start from ``doc_topic_prior`` (None and "auto": 1 / n_components)."""
    k = n_components
    if prior is None or (isinstance(prior, str) and prior == "auto"):
        return np.full(k, 1.0 / k)
    try:
        alpha = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError):
        alpha = np.full(1, np.nan)  # reported below with the parameter's name
    if alpha.ndim == 0:
        alpha = np.full(k, float(alpha))
    if alpha.shape != (k,) or not np.all(np.isfinite(alpha)) or np.any(alpha <= 0):
        raise ValueError(
            "The 'doc_topic_prior' parameter of OnlineLDA must be 'auto', a float > 0 or "
            f"an array of {k} positive floats. Got {prior!r} instead."
        )
    return alpha


def n_threads(n_jobs: Any) -> int:
    """Threads for ``n_jobs``: None or -1 means every core this process may use."""
    if n_jobs is None or n_jobs == -1:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1
        )
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(
            "The 'n_jobs' parameter of OnlineLDA must be None, -1 or an int in the range "
            f"[1, inf). Got {n_jobs!r} instead."
        )
    return int(n_jobs)


def resolve_seed(random_state: Any) -> int:
    """A 63-bit seed from ``random_state`` (a Generator or RandomState is drawn once)."""
    rs = random_state
    if rs is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint64)[0] >> 1)
    if isinstance(rs, np.random.Generator):
        return int(rs.integers(0, 2**63 - 1))
    if isinstance(rs, np.random.RandomState):
        return int(rs.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(rs, int | np.integer) and not isinstance(rs, bool):
        return int(rs)
    raise ValueError(
        "The 'random_state' parameter of OnlineLDA must be an int, a numpy Generator, a "
        f"numpy RandomState or None. Got {rs!r} instead."
    )


def partial_fit_total_samples(model: Any, batch: Batch) -> float:
    """D for a partial_fit step on ``batch``, in documents for every method:
    ``total_samples``, or when None 1e6 (scikit-learn's default)."""
    if model.total_samples is not None:
        return float(model.total_samples)
    return PARTIAL_FIT_TOTAL_SAMPLES
