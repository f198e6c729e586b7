"""What a report shows about a fitted model, read from the statistics it keeps.

Every reader here prefers the statistic the fit maintains (``history_``,
``topic_token_counts_``, ``term_frequency_``, ...) and falls back to what any fitted model
has (lambda, ``bound_history_``), saying which one it used, so a report works for models
saved by any version of svi-lda.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from svi_lda.numerics.topk import top_indices

HISTORY_KEYS = ("step", "n_docs_seen", "figure", "rho", "n_features", "seconds")


@dataclass(frozen=True)
class Curve:
    """A series to plot: ``y`` against ``x``, with axis labels and an optional note."""

    x: np.ndarray
    y: np.ndarray
    x_label: str
    y_label: str
    note: str | None = None
    extra: dict[str, np.ndarray] | None = None


def words_of(model: Any) -> list[str]:
    """The model's words, or ``"#<id>"`` for each column when it has no vocabulary."""
    vocab = getattr(model, "vocabulary_", None)
    if vocab is not None:
        words = list(vocab) if isinstance(vocab, list | tuple) else list(vocab.words)
        if len(words) == model.n_features_in_:
            return [str(w) for w in words]
    return [f"#{j}" for j in range(model.n_features_in_)]


def topic_word(model: Any) -> np.ndarray:
    """E_q[beta], shape (n_components, n_features); rows sum to 1."""
    return np.asarray(model.get_topics(), dtype=np.float64)


def topic_sizes(model: Any) -> tuple[np.ndarray, str]:
    """Tokens attributed to each topic, shape (n_components,), and where they come from.

    ``topic_token_counts_`` when the fit kept it; otherwise ``sum_w (lambda_kw - eta)``,
    the expected word counts lambda holds (for SVI, scaled to the corpus size D).
    """
    kept = getattr(model, "topic_token_counts_", None)
    if kept is not None and np.size(kept) == model.n_components and np.sum(kept) > 0:
        return np.asarray(kept, dtype=np.float64), "tokens assigned to each topic during the fit"
    state = model.state_
    sizes = state.scale * np.asarray(state.topic_sums, dtype=np.float64)
    return np.maximum(sizes, 0.0), "expected word counts held in lambda (lambda - eta)"


def topic_doc_counts(model: Any) -> np.ndarray | None:
    """Documents attributed to each topic during the fit, when the model kept them."""
    kept = getattr(model, "topic_doc_counts_", None)
    if kept is None or np.size(kept) != model.n_components:
        return None
    return np.asarray(kept, dtype=np.float64)


def term_frequency(model: Any) -> tuple[np.ndarray, str]:
    """Count of each word in the data the model saw, shape (n_features,), and its source.

    ``term_frequency_`` when the fit kept it, else the corpus frequencies of the model's
    vocabulary (from ingest), else the expected word counts lambda holds.
    """
    n_features = model.n_features_in_
    kept = getattr(model, "term_frequency_", None)
    if kept is not None and np.size(kept) == n_features and np.sum(kept) > 0:
        return np.asarray(kept, dtype=np.float64), "word counts kept by the fit"
    vocab = getattr(model, "vocabulary_", None)
    freq = getattr(vocab, "corpus_frequency", None)
    if freq is not None and np.size(freq) == n_features and np.sum(freq) > 0:
        return np.asarray(freq, dtype=np.float64), "corpus frequencies of the vocabulary"
    state = model.state_
    expected = state.scale * np.asarray(state.word_topic, dtype=np.float64).sum(axis=1)
    return np.maximum(expected, 0.0), "expected word counts held in lambda (lambda - eta)"


def top_words(
    model: Any, n: int = 10, words: Sequence[str] | None = None
) -> list[list[tuple[str, float]]]:
    """For each topic its ``n`` most probable words with their probabilities (ties by id)."""
    beta = topic_word(model)
    words = words_of(model) if words is None else words
    top = top_indices(beta, n)
    return [[(words[j], float(beta[k, j])) for j in row] for k, row in enumerate(top)]


def history(model: Any) -> dict[str, np.ndarray] | None:
    """The per-step history as arrays, or None when the model has none (or it is ragged)."""
    hist = getattr(model, "history_", None)
    if not isinstance(hist, dict) or len(hist.get("step", ())) == 0:
        return None
    lengths = {len(v) for k, v in hist.items() if k in HISTORY_KEYS}
    if len(lengths) != 1:
        return None
    return {k: np.asarray(v, dtype=np.float64) for k, v in hist.items() if k in HISTORY_KEYS}


def training_curve(model: Any) -> Curve | None:
    """The fit's per-step figure against documents seen.

    From ``history_`` (labelled by ``figure_label_``); else ``bound_history_`` against the
    step number, with a note saying documents seen were not recorded; else None.
    """
    hist = history(model)
    label = str(getattr(model, "figure_label_", None) or _default_label(model))
    if hist is not None and "figure" in hist and "n_docs_seen" in hist:
        keep = np.isfinite(hist["figure"])
        if keep.any():
            extra = {k: v[keep] for k, v in hist.items() if k not in ("figure", "n_docs_seen")}
            return Curve(hist["n_docs_seen"][keep], hist["figure"][keep], "documents seen",
                         label, extra=extra)
    bounds = getattr(model, "bound_history_", None)
    bounds = np.asarray([] if bounds is None else bounds, dtype=np.float64)
    if bounds.size and np.isfinite(bounds).any():
        steps = np.arange(1, bounds.size + 1, dtype=np.float64)
        keep = np.isfinite(bounds)
        unit = "pass" if getattr(model, "learning_method", "online") != "online" else "step"
        return Curve(
            steps[keep], bounds[keep], unit, label,
            note=f"This model kept no per-step history (documents seen), only its figure per "
            f"{unit}: plotted against the {unit} number.",
        )
    return None


def _default_label(model: Any) -> str:
    method = getattr(model, "learning_method", "online")
    if method == "cvb0":
        return "leave-one-out log predictive per token (nats)"
    if method == "batch":
        return "ELBO per token (nats)"
    return "minibatch ELBO per token (nats)"


def vocabulary_growth(model: Any) -> Curve | None:
    """Vocabulary size against documents seen, when the history shows it changing."""
    hist = history(model)
    if hist is None or "n_features" not in hist or "n_docs_seen" not in hist:
        return None
    sizes = hist["n_features"]
    if sizes.size == 0 or np.all(sizes == sizes[0]):
        return None
    return Curve(hist["n_docs_seen"], sizes, "documents seen", "vocabulary size (words)")


def model_facts(model: Any) -> list[tuple[str, str]]:
    """Short (label, value) pairs for the report's header."""
    state = model.state_
    alpha = np.asarray(state.alpha, dtype=np.float64)
    facts = [
        ("topics", f"{model.n_components:,}"),
        ("words", f"{model.n_features_in_:,}"),
        ("documents seen", f"{int(state.n_docs_seen):,}"),
        ("steps", f"{int(state.step):,}"),
        ("method", str(getattr(model, "learning_method", "online"))),
        ("alpha", f"{alpha.mean():.3g}" if np.ptp(alpha) == 0 else
         f"{alpha.min():.3g} to {alpha.max():.3g} (learned)"),
        ("eta", f"{float(state.eta):.3g}"),
    ]
    curve = training_curve(model)
    if curve is not None and curve.y.size:
        facts.append(("last " + curve.y_label, f"{curve.y[-1]:.4f}"))
    return facts
