"""``evaluate(model, corpus)``: every evaluation figure of a model on a corpus, streamed.

The corpus is read one unit (Parquet row group, or block of rows of a matrix) at a time,
in process or on Dask workers; each unit's figures are added in unit order (see
:mod:`svi_lda.evaluation.heldout`), so the result is the same with any number of workers.
Memory: the topics, K x T x T coherence counts and one unit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda.batch import Batch
from svi_lda.bounds import topic_bound
from svi_lda.evaluation.cluster import CorpusOnDisk, map_units_in_order
from svi_lda.evaluation.coherence import TopWordCounts, TopWordIndex, top_word_ids
from svi_lda.evaluation.heldout import EvaluationPayload, UnitEvaluation, evaluate_unit
from svi_lda.evaluation.measures import topic_diversity
from svi_lda.step import EStepSettings

_MATRIX_UNIT_ROWS = 4096
NO_ELBO_METHODS = ("cvb0", "scvb0")

LOG_PREDICTIVE_MEANING = (
    "held-out log predictive per token by document completion: half of each document's "
    "tokens (a hash of document id and token) fold in its topic mix, the other half is "
    "scored as log sum_k theta_k beta_kw; higher is better"
)
ELBO_MEANING = (
    "evidence lower bound per token: the documents' ELBO terms plus their share "
    "(documents evaluated / documents the model summarises) of the topics' prior terms; "
    "a lower bound on log p(words), higher is better"
)


@dataclass(frozen=True)
class EvaluationReport:
    """Evaluation of a topic model on a corpus (all logs natural, in nats).

    Attributes
    ----------
    corpus : str
        What was evaluated (path, or "matrix").
    held_out : bool or None
        Whether the corpus is held out from training (None: unknown).
    held_out_reason : str
        How that was decided.
    n_docs, n_tokens : int, float
    log_predictive_per_token : float
        Held-out log predictive per token by document completion (nats, higher is better).
    heldout_tokens : float
        Tokens scored by it.
    elbo_per_token : float or None
        ELBO per token (nats); None for a method without an ELBO.
    training_figure, training_figure_label : float or None, str
        For a method without an ELBO, its own training figure (e.g. CVB0's leave-one-out
        log predictive per token) when the model carries it, and what it is ("" for a
        method with an ELBO).
    npmi, umass : float
        Topic coherence over whole documents of the corpus (module
        :mod:`svi_lda.evaluation.coherence`), means over topics.
    npmi_per_topic, umass_per_topic : list of float
    diversity : float
        Share of distinct words among all topics' top 25.
    topic_tokens : list of float
        Expected tokens of the corpus in each topic (its size).
    top_n : int
        Top words per topic used for coherence.
    seconds : float
    top_words : list of list of str
        Each topic's five most probable words (ids as text when the model has no words).
    """

    corpus: str
    held_out: bool | None
    held_out_reason: str
    n_docs: int
    n_tokens: float
    log_predictive_per_token: float
    heldout_tokens: float
    elbo_per_token: float | None
    training_figure: float | None
    training_figure_label: str
    npmi: float
    umass: float
    npmi_per_topic: list[float]
    umass_per_topic: list[float]
    diversity: float
    topic_tokens: list[float]
    top_n: int
    seconds: float
    top_words: list[list[str]]

    @property
    def log_predictive_perplexity(self) -> float:
        """exp(-log predictive per token): the held-out perplexity (lower is better)."""
        return float(np.exp(-self.log_predictive_per_token))

    @property
    def elbo_perplexity(self) -> float | None:
        """exp(-ELBO per token): an upper bound on the perplexity of the corpus."""
        return None if self.elbo_per_token is None else float(np.exp(-self.elbo_per_token))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary, with the implied perplexities."""
        out = asdict(self)
        out["log_predictive_perplexity"] = self.log_predictive_perplexity
        out["elbo_perplexity"] = self.elbo_perplexity
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON."""
        return json.dumps(self.to_dict(), indent=1)

    def format(self) -> str:
        """Human-readable summary, one figure a line, each with what it is."""
        held = {True: "yes", False: "no (training data)", None: "unknown"}[self.held_out]
        lines = [
            f"corpus: {self.corpus}: {self.n_docs} documents, {self.n_tokens:.0f} tokens; "
            f"held out: {held} ({self.held_out_reason})",
            f"log predictive per token: {self.log_predictive_per_token:.4f} nats "
            f"(perplexity {self.log_predictive_perplexity:.1f}; {self.heldout_tokens:.0f} "
            f"tokens scored)",
            f"  = {LOG_PREDICTIVE_MEANING}",
        ]
        if self.held_out is False:
            lines.append("  (these documents were seen in training, so this is optimistic)")
        if self.elbo_per_token is not None:
            lines += [
                f"ELBO per token: {self.elbo_per_token:.4f} nats (perplexity bound "
                f"{self.elbo_perplexity:.1f})",
                f"  = {ELBO_MEANING}",
            ]
        else:
            lines.append(f"ELBO per token: none ({self.training_figure_label})")
            if self.training_figure is not None:
                lines.append(
                    f"  training figure instead: {self.training_figure:.4f} nats per token "
                    f"(perplexity {np.exp(-self.training_figure):.1f})"
                )
        lines += [
            f"coherence NPMI: {self.npmi:.4f} (top {self.top_n} words, whole-document "
            "co-occurrence, in [-1, 1], higher is better)",
            f"coherence UMass: {self.umass:.4f} (top {self.top_n} words, log of "
            "(D(w_i, w_j) + 1) / D(w_i), <= 0 typically, higher is better)",
            f"topic diversity: {self.diversity:.3f} (distinct share of all topics' top 25 "
            "words; 1 = no overlap)",
            "topics (share of tokens, NPMI, UMass, top words):",
        ]
        total = float(np.sum(self.topic_tokens)) or 1.0
        for k, size in enumerate(self.topic_tokens):
            lines.append(
                f"  topic {k:>3}: {100 * size / total:5.1f}%  {self.npmi_per_topic[k]:+.3f}  "
                f"{self.umass_per_topic[k]:+.3f}  {' '.join(self.top_words[k])}"
            )
        lines.append(f"evaluated in {self.seconds:.1f} s")
        return "\n".join(lines)


def _units(corpus: Any) -> tuple[str, list[Any], Any]:
    """(name, units, reader) for a corpus folder, ParquetCorpus or matrix."""
    from svi_lda.corpus import ParquetCorpus

    if isinstance(corpus, str | os.PathLike):
        corpus = ParquetCorpus(corpus)
    if isinstance(corpus, ParquetCorpus):
        return str(corpus.path), list(corpus.units), corpus
    from svi_lda._validation import check_doc_term_matrix

    X = check_doc_term_matrix(corpus, n_features=None)
    starts = list(range(0, X.shape[0], _MATRIX_UNIT_ROWS)) or [0]
    return "matrix", [(s, min(s + _MATRIX_UNIT_ROWS, X.shape[0])) for s in starts], X


def _read(reader: Any, unit: Any, *, with_counts: bool = True) -> Batch:
    if isinstance(unit, tuple):
        lo, hi = unit
        return Batch.from_csr(reader[lo:hi], first_doc_id=lo)
    return reader.read_unit(unit, with_counts=with_counts)


def _evaluate_corpus_unit(unit: Any, corpus: CorpusOnDisk, payload: EvaluationPayload
                          ) -> UnitEvaluation:
    """Dask task: read one row group on the worker and evaluate it."""
    return evaluate_unit(corpus.read(unit), payload)


def _count_corpus_unit(unit: Any, corpus: CorpusOnDisk, index: TopWordIndex) -> TopWordCounts:
    """Dask task: coherence counts of one row group, reading only its word ids."""
    return index.count(corpus.read(unit, with_counts=False))


def _on_dask(client: Any, reader: Any, units: list[Any], payload: EvaluationPayload
             ) -> Iterator[UnitEvaluation]:
    """Each unit's figures computed on the cluster, yielded in unit order."""
    corpus = CorpusOnDisk.of(reader, "evaluate")
    payload = dataclasses.replace(payload, n_threads=1)  # a worker thread per task
    return map_units_in_order(client, _evaluate_corpus_unit, units, corpus, payload)


def _held_out(model: Any, name: str, held_out: bool | None) -> tuple[bool | None, str]:
    if held_out is not None:
        return held_out, "as stated by the caller"
    trained_on = (getattr(model, "load_extra_", None) or {}).get("corpus")
    if name == "matrix":
        return None, "a matrix has no path to compare with the model's training corpus"
    if trained_on is None:
        return None, "the model does not record its training corpus"
    same = storage.absolute(storage.location(trained_on)) == storage.absolute(
        storage.location(name)
    )
    return (not same), f"the model was trained on {trained_on}"


def available_threads() -> int:
    """Cores this process may use (the E-steps' threads in process)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def model_documents(model: Any) -> float:
    """D, the number of documents the model's topics summarise."""
    if getattr(model, "total_samples", None):
        return float(model.total_samples)
    seen = float(model.state_.n_docs_seen)
    return seen / max(int(getattr(model, "n_iter_", 0) or 0), 1)


def _training_figure(model: Any) -> tuple[float | None, str]:
    label = getattr(model, "figure_label_", None)
    history = getattr(model, "bound_history_", None) or []
    method = model.learning_method
    if label is None:
        label = (
            "CVB0 leave-one-out log predictive per token on the training corpus"
            if method == "cvb0" else f"{method} has no ELBO"
        )
    value = float(history[-1]) if history else None
    return value, f"{method} has no ELBO; its own figure: {label}"


def _stream(payload: EvaluationPayload, corpus: Any, client: Any
            ) -> tuple[str, UnitEvaluation]:
    """(corpus name, figures summed in unit order) of a corpus."""
    name, units, reader = _units(corpus)
    results = (
        _on_dask(client, reader, units, payload) if client is not None
        else (evaluate_unit(_read(reader, u), payload) for u in units)
    )
    total: UnitEvaluation | None = None
    for part in results:  # unit order: the sums do not depend on the workers
        total = part if total is None else total.add(part)
    if total is None or total.heldout_tokens <= 0:
        raise ValueError(f"{name}: no tokens to score (empty corpus or one-token documents)")
    return name, total


def _check_vocabulary(corpus: Any, n_features: int) -> None:
    from svi_lda.corpus import ParquetCorpus

    if isinstance(corpus, str | os.PathLike):
        found, name = ParquetCorpus(corpus).n_features, str(corpus)
    elif isinstance(corpus, ParquetCorpus):
        found, name = corpus.n_features, str(corpus.path)
    else:
        found, name = corpus.shape[1], "the matrix"
    if found != n_features:
        raise ValueError(
            f"{name} has {found} words in its vocabulary; the model has {n_features}: "
            "evaluate on a corpus ingested with the model's vocabulary"
        )


@dataclass(frozen=True)
class TopicScores:
    """Figures of any topic-word matrix on a corpus (see :func:`score_topics`)."""

    log_predictive_per_token: float
    npmi: float
    umass: float
    diversity: float

    @property
    def perplexity(self) -> float:
        """exp(-log predictive per token)."""
        return float(np.exp(-self.log_predictive_per_token))


def score_topics(
    topic_word: Any,
    corpus: Any,
    client: Any = None,
    *,
    doc_topic_prior: float | np.ndarray,
    top_n: int = 10,
    seed: int = 0,
) -> TopicScores:
    """Held-out log predictive (document completion), NPMI, UMass and diversity of any
    topic-word matrix (ours, a Gibbs sampler's, another library's), streamed as
    :func:`evaluate` does.
    """
    topics = np.asarray(
        topic_word.get_topics() if hasattr(topic_word, "get_topics") else topic_word,
        dtype=np.float64,
    )
    topics = topics / topics.sum(axis=1, keepdims=True)
    _check_vocabulary(corpus, topics.shape[1])
    alpha = np.broadcast_to(np.asarray(doc_topic_prior, dtype=np.float64),
                            (topics.shape[0],)).copy()
    payload = EvaluationPayload(
        topics=topics, alpha=alpha, settings=EStepSettings(seed=seed),
        index=TopWordIndex(top_word_ids(topics, top_n)), split_seed=seed,
        n_threads=available_threads(),
    )
    _, total = _stream(payload, corpus, client)
    return TopicScores(
        log_predictive_per_token=total.heldout_loglik / total.heldout_tokens,
        npmi=float(total.counts.npmi()),
        umass=float(total.counts.umass()),
        diversity=topic_diversity(topics),
    )


def coherence_counts(
    topic_word: Any, corpus: Any, client: Any = None, *, top_n: int = 10
) -> TopWordCounts:
    """Coherence counts (:class:`TopWordCounts`: NPMI, UMass) of a model's or any topic-word
    matrix's top words over a corpus, streamed by unit, reading only the word ids.

    Parameters
    ----------
    topic_word : fitted model (with ``get_topics``) or array of shape (K, V)
    corpus : corpus folder path, ParquetCorpus, or document-term matrix
    client : distributed.Client, optional
        Count each row group on this cluster (workers must see the folder).
    top_n : int, default=10

    Returns
    -------
    TopWordCounts
        Integer counts, added in unit order: the same with or without a cluster.
    """
    topics = np.asarray(
        topic_word.get_topics() if hasattr(topic_word, "get_topics") else topic_word
    )
    _check_vocabulary(corpus, topics.shape[1])
    index = TopWordIndex(top_word_ids(topics, top_n))
    _, units, reader = _units(corpus)
    if client is not None:
        parts = map_units_in_order(client, _count_corpus_unit, units,
                                   CorpusOnDisk.of(reader, "coherence_counts"), index)
    else:
        parts = (index.count(_read(reader, u, with_counts=False)) for u in units)
    total = TopWordCounts.empty(index.top)
    for part in parts:
        total.add(part)
    return total


def evaluate(
    model: Any,
    corpus: Any,
    client: Any = None,
    *,
    top_n: int = 10,
    held_out: bool | None = None,
    seed: int = 0,
    max_doc_update_iter: int = 100,
    mean_change_tol: float = 1e-3,
) -> EvaluationReport:
    """Evaluate a fitted model on a corpus, one row group at a time.

    Parameters
    ----------
    model : OnlineLDA
        A fitted (or loaded) model.
    corpus : corpus folder path, ParquetCorpus, or document-term matrix
        The documents to evaluate on (same vocabulary as the model).
    client : distributed.Client, optional
        Run each row group's evaluation on this cluster (workers must see the folder).
    top_n : int, default=10
        Top words per topic for NPMI and UMass.
    held_out : bool, optional
        Whether the corpus was held out from training; by default decided from the
        training corpus the model records (``svi-lda train`` records it), else unknown.
    seed : int, default=0
        Seeds the token split of document completion (and the E-step starts).

    Returns
    -------
    EvaluationReport
    """
    started = time.perf_counter()
    model._check_fitted()
    _check_vocabulary(corpus, model.n_features_in_)
    topics = model.get_topics()
    has_elbo = model.learning_method not in NO_ELBO_METHODS
    payload = EvaluationPayload(
        topics=topics,
        alpha=np.asarray(model.doc_topic_prior_, dtype=np.float64),
        settings=EStepSettings(max_doc_update_iter=max_doc_update_iter,
                               mean_change_tol=mean_change_tol, seed=seed),
        index=TopWordIndex(top_word_ids(topics, top_n)),
        split_seed=seed,
        state=model.state_,
        n_threads=available_threads(),
        model_seed=int(getattr(model, "random_seed_", 0)),
    )
    name, total = _stream(payload, corpus, client)
    elbo = None
    figure, label = None, ""
    if has_elbo:
        share = total.n_docs / model_documents(model)
        elbo = (total.doc_bound + share * topic_bound(model.state_)) / total.n_tokens
    else:
        figure, label = _training_figure(model)
    is_held, reason = _held_out(model, name, held_out)
    return EvaluationReport(
        corpus=name,
        held_out=is_held,
        held_out_reason=reason,
        n_docs=total.n_docs,
        n_tokens=total.n_tokens,
        log_predictive_per_token=total.heldout_loglik / total.heldout_tokens,
        heldout_tokens=total.heldout_tokens,
        elbo_per_token=elbo,
        training_figure=figure,
        training_figure_label=label,
        npmi=float(total.counts.npmi()),
        umass=float(total.counts.umass()),
        npmi_per_topic=[float(x) for x in total.counts.npmi(per_topic=True)],
        umass_per_topic=[float(x) for x in total.counts.umass(per_topic=True)],
        diversity=topic_diversity(topics),
        topic_tokens=[float(x) for x in total.topic_tokens],
        top_n=int(total.counts.top.shape[1]),
        seconds=time.perf_counter() - started,
        top_words=[[str(w) for w, _ in topic] for topic in model.top_words(5)],
    )
