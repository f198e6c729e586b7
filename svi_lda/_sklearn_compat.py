"""What makes :class:`~svi_lda.OnlineLDA` a scikit-learn estimator, without importing it.

scikit-learn is optional and slow to import (seconds on a busy machine), so nothing here
imports it at module level: tags are built when scikit-learn asks for them (it is then
loaded already), and :func:`not_fitted_error` makes the error an instance of
scikit-learn's ``NotFittedError`` too once scikit-learn has been imported (code that
catches that class has necessarily imported it). Supported: scikit-learn >= 1.4.2 (see
``pyproject.toml``); releases before 1.6 read the tags from ``_more_tags``.
"""

from __future__ import annotations

import inspect
import logging
import math
import sys
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp

from svi_lda._validation import NotFittedError
from svi_lda.bounds import topic_bound

logger = logging.getLogger("svi_lda.estimator")

OUTPUT_CONTAINERS = ("default", "pandas", "polars")


def sklearn_tags() -> Any:
    """The tags of scikit-learn's ``LatentDirichletAllocation``: a transformer of
    non-negative dense or sparse input that keeps float32 and float64."""
    from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

    return Tags(
        estimator_type=None,
        target_tags=TargetTags(required=False),
        transformer_tags=TransformerTags(preserves_dtype=["float32", "float64"]),
        input_tags=InputTags(positive_only=True, sparse=True),
    )


def legacy_tags(*, with_defaults: bool = False) -> dict[str, Any]:
    """The tags scikit-learn < 1.6 reads from ``_more_tags`` (those of its LDA then);
    ``with_defaults``: over its default tags, as its ``BaseEstimator._get_tags`` gives."""
    tags = {"preserves_dtype": [np.float64, np.float32], "requires_positive_X": True}
    if with_defaults:
        from sklearn.utils._tags import _DEFAULT_TAGS

        tags = {**_DEFAULT_TAGS, **tags}
    return tags


_COMBINED: dict[str, type] = {}


def not_fitted_error(message: str) -> NotFittedError:
    """A :class:`svi_lda.NotFittedError`, also scikit-learn's when that is loaded."""
    sk_exceptions = sys.modules.get("sklearn.exceptions")
    if sk_exceptions is None:
        return NotFittedError(message)
    if "cls" not in _COMBINED:
        _COMBINED["cls"] = type(
            "SklearnNotFittedError",
            (NotFittedError, sk_exceptions.NotFittedError),
            {
                "__module__": __name__,
                "__doc__": "svi_lda's NotFittedError, a scikit-learn NotFittedError too.",
            },
        )
    return _COMBINED["cls"](message)


def __getattr__(name: str) -> Any:
    # Lets pickle find the class made by not_fitted_error.
    if name == "SklearnNotFittedError":
        from sklearn.exceptions import NotFittedError as _  # noqa: F401

        return type(not_fitted_error(""))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- parameters -------------------------------------------------------------------------
def get_params(estimator: Any) -> dict[str, Any]:
    """The constructor's parameters and their values (``get_params``; none are nested)."""
    names = [p for p in inspect.signature(type(estimator).__init__).parameters if p != "self"]
    return {name: getattr(estimator, name) for name in names}


def set_params(estimator: Any, params: dict[str, Any]) -> Any:
    """``set_params``: refuse unknown names, set the others, return the estimator."""
    valid = get_params(estimator)
    for name, value in params.items():
        if name not in valid:
            raise ValueError(f"Invalid parameter {name!r} for OnlineLDA.")
        setattr(estimator, name, value)
    return estimator


def estimator_repr(estimator: Any) -> str:
    """``Name(changed=value, ...)``: the parameters that differ from their defaults."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(type(estimator).__init__).parameters.items()
        if name != "self"
    }
    changed = [
        f"{k}={v!r}"
        for k, v in get_params(estimator).items()
        if not (isinstance(v, np.ndarray) or v is defaults[k] or v == defaults[k])
    ]
    return f"OnlineLDA({', '.join(changed)})"


# -- assigning components_ ----------------------------------------------------------------
def assign_components(estimator: Any, value: Any) -> None:
    """``estimator.components_ = value``: rebuild the lazy state around these topics.

    A fitted model keeps its step count, alpha and seed (a warm start); a fresh one is
    initialised from its parameters and not seeded from documents (the topics are given),
    so ``transform`` works at once and ``partial_fit`` continues from them.
    """
    lam = np.asarray(value, dtype=np.float64)
    k = estimator.n_components
    if lam.ndim != 2 or lam.shape[0] != k or lam.shape[1] < 1:
        raise ValueError(
            f"components_ must have shape (n_components={k}, n_features); got {lam.shape}."
        )
    if not np.all(np.isfinite(lam)) or np.any(lam <= 0):
        raise ValueError("components_ must be finite and positive (Dirichlet parameters).")
    state = getattr(estimator, "state_", None)
    if state is None or state.n_features != lam.shape[1]:
        estimator._init_state(lam.shape[1], anchor_sample=True)  # the topics are given
        state = estimator.state_
    # lambda = eta + scale * W with scale 1; W may be negative where lambda < eta, and
    # stays a valid lambda under the step's convex combination with eta.
    state.word_topic = (lam.T - state.eta).astype(state.word_topic.dtype)
    state.scale = 1.0
    state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)
    estimator._topics_assigned = True


# -- feature names ---------------------------------------------------------------------
def record_feature_names(estimator: Any, names: np.ndarray | None) -> None:
    """At fit: keep a DataFrame's column names as ``feature_names_in_`` (or drop them)."""
    if names is not None:
        estimator.feature_names_in_ = names
    elif "feature_names_in_" in vars(estimator):
        del estimator.feature_names_in_


def check_feature_names(estimator: Any, names: np.ndarray | None) -> None:
    """At transform: the columns must be the ones seen in fit (scikit-learn's rules)."""
    fitted = getattr(estimator, "feature_names_in_", None)
    owner = type(estimator).__name__
    if fitted is None and names is None:
        return
    if fitted is None:
        warnings.warn(
            f"X has feature names, but {owner} was fitted without feature names",
            UserWarning,
            stacklevel=3,
        )
        return
    if names is None:
        warnings.warn(
            f"X does not have valid feature names, but {owner} was fitted with feature "
            "names",
            UserWarning,
            stacklevel=3,
        )
        return
    if len(names) == len(fitted) and np.all(names == fitted):
        return
    unseen = sorted(set(names) - set(fitted))
    missing = sorted(set(fitted) - set(names))
    message = "The feature names should match those that were passed during fit.\n"
    if unseen:
        message += "Feature names unseen at fit time:\n" + _listed(unseen)
    if missing:
        message += "Feature names seen at fit time, yet now missing:\n" + _listed(missing)
    if not unseen and not missing:
        message += "Feature names must be in the same order as they were in fit.\n"
    raise ValueError(message)


def _listed(names: list[str], limit: int = 5) -> str:
    shown = [f"- {name}\n" for name in names[:limit]]
    return "".join(shown) + ("- ...\n" if len(names) > limit else "")


def feature_names_out(estimator: Any, input_features: Any = None) -> np.ndarray:
    """``onlinelda0`` ... ``onlinelda{K-1}`` (scikit-learn's class-name-prefix rule)."""
    estimator._check_fitted()
    if input_features is not None:
        given = np.asarray(input_features, dtype=object)
        fitted = getattr(estimator, "feature_names_in_", None)
        if fitted is not None and (len(given) != len(fitted) or np.any(given != fitted)):
            raise ValueError("input_features is not equal to feature_names_in_")
        if len(given) != estimator.n_features_in_:
            raise ValueError(
                f"input_features should have length equal to number of features "
                f"({estimator.n_features_in_}), got {len(given)}"
            )
    prefix = type(estimator).__name__.lower()
    return np.asarray([f"{prefix}{i}" for i in range(estimator.state_.n_components)], dtype=object)


# -- output containers -------------------------------------------------------------------
def set_output(estimator: Any, transform: str | None) -> Any:
    """scikit-learn's ``set_output``: the container ``transform`` returns."""
    if transform is None:
        return estimator
    if transform not in OUTPUT_CONTAINERS:
        raise ValueError(
            f"output config must be in {sorted(OUTPUT_CONTAINERS)}, got {transform!r}"
        )
    config = dict(getattr(estimator, "_sklearn_output_config", {}))
    config["transform"] = transform
    estimator._sklearn_output_config = config
    return estimator


def wrap_output(estimator: Any, out: np.ndarray, X: Any) -> Any:
    """``out`` in the container chosen by ``set_output`` or scikit-learn's global config."""
    config = getattr(estimator, "_sklearn_output_config", {})
    container = config.get("transform")
    if container is None:
        sklearn = sys.modules.get("sklearn")
        container = sklearn.get_config()["transform_output"] if sklearn else "default"
    if container == "default":
        return out
    columns = feature_names_out(estimator)
    if container == "pandas":
        import pandas as pd

        index = X.index if type(X).__name__ == "DataFrame" and hasattr(X, "index") else None
        return pd.DataFrame(out, columns=columns, index=index, copy=False)
    if container == "polars":
        import polars as pl

        return pl.DataFrame(out, schema=columns.tolist(), orient="row")
    raise ValueError(f"output config must be in {sorted(OUTPUT_CONTAINERS)}, got {container!r}")


class EstimatorProtocol:
    """The scikit-learn estimator protocol (parameters, repr, tags, output names and
    container) for a class whose constructor arguments are its parameters, as
    :class:`~svi_lda.OnlineLDA`'s are. scikit-learn is not needed to use it."""

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Constructor parameters (scikit-learn protocol, so ``clone`` works)."""
        return get_params(self)

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters; returns self."""
        return set_params(self, params)

    def __repr__(self) -> str:
        return estimator_repr(self)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags, those of its ``LatentDirichletAllocation``."""
        return sklearn_tags()

    def _more_tags(self) -> dict[str, Any]:
        """The same tags for scikit-learn < 1.6, which reads these instead."""
        return legacy_tags()

    def _get_tags(self) -> dict[str, Any]:
        """All tags, for scikit-learn < 1.6 (its checks call this directly)."""
        return legacy_tags(with_defaults=True)

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "state_", None) is not None

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Output column names: ``onlinelda0`` ... (scikit-learn's naming)."""
        return feature_names_out(self, input_features)

    def set_output(self, *, transform: str | None = None) -> Any:
        """Container ``transform`` returns: "default" (ndarray), "pandas" or "polars"."""
        return set_output(self, transform)


# -- evaluate_every, perp_tol and bound_ ------------------------------------------------
class Converged(Exception):
    """Raised by :class:`FitMonitor` to end ``fit`` early (perplexity within perp_tol)."""


class FitMonitor:
    """A ``fit`` callback giving scikit-learn's ``evaluate_every``, ``perp_tol``, ``bound_``.

    It groups the steps it sees into passes (online: ``ceil(n_docs / batch_size)``
    steps of a matrix, one per minibatch of a list; batch CAVI and CVB0 report each pass
    as one step). Every ``evaluate_every`` passes it computes the training perplexity, as
    scikit-learn does, and raises :class:`Converged` when it moved by less than
    ``perp_tol``. Without evaluation it keeps the last pass's bounds, from which
    :meth:`final_perplexity` estimates the training perplexity at no extra cost.
    """

    def __init__(self, model: Any, data: Any) -> None:
        self.model = model
        self.every = int(model.evaluate_every)
        self.data = data if sp.issparse(data) else None
        if sp.issparse(data):
            self.steps_per_pass: int | None = math.ceil(data.shape[0] / int(model.batch_size))
        elif isinstance(data, list | tuple):
            self.steps_per_pass = len(data)
        else:
            self.steps_per_pass = None
        if self.every > 0 and self.data is None:
            raise ValueError(
                "evaluate_every > 0 computes the perplexity of the training documents, "
                "which needs them in memory (a matrix): for a corpus folder or a stream, "
                "pass callbacks= and score held-out documents with svi_lda.evaluation."
            )
        self.passes = 0
        self.pass_key: int | None = None
        self.steps = 0
        self.nats = 0.0
        self.tokens = 0.0
        self.last_perplexity: float | None = None
        self.evaluated_last = False

    def __call__(self, metrics: Any) -> None:
        whole_pass = self.model.learning_method != "online"
        key = self.model.n_iter_  # online: passes completed before this step
        if whole_pass or key != self.pass_key:
            self.pass_key, self.steps, self.nats, self.tokens = key, 0, 0.0, 0.0
        self.steps += 1
        self.nats += metrics.bound_per_token * metrics.n_tokens
        self.tokens += metrics.n_tokens
        self.evaluated_last = False
        if whole_pass or self.steps == self.steps_per_pass:
            self._end_of_pass()

    def _end_of_pass(self) -> None:
        self.passes += 1
        if self.every <= 0 or self.passes % self.every:
            return
        perplexity = self.model.perplexity(self.data)
        if self.model.verbose:
            logger.info("pass %d: training perplexity %.4f", self.passes, perplexity)
        previous, self.last_perplexity = self.last_perplexity, perplexity
        self.evaluated_last = True
        if previous is not None and abs(previous - perplexity) < float(self.model.perp_tol):
            raise Converged

    def final_perplexity(self) -> float:
        """The training perplexity after fit: exact if just evaluated, else estimated."""
        if self.evaluated_last and self.last_perplexity is not None:
            return self.last_perplexity
        if self.tokens <= 0:
            return float("nan")
        nats = self.nats
        if self.model.learning_method == "online":
            nats += topic_bound(self.model.state_)  # batch: already in the pass's ELBO
        if self.model.learning_method == "cvb0":
            nats = self.nats  # leave-one-out log predictive, no topic terms
        return float(np.exp(-nats / self.tokens))
