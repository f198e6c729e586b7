"""OnlineLDA: a scikit-learn-style estimator over the SVI core.

The estimator holds the parameters and the fitted state; training goes through the run
loop (:mod:`svi_lda.training`), the methods' math lives in :mod:`svi_lda.methods`,
``step.py`` (shared with the Dask engine), ``state.py`` and ``numerics/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from scipy.special import digamma

from svi_lda import _params, inference
from svi_lda import _sklearn_compat as sklearn_compat
from svi_lda._inputs import fit_input, is_texts, recognise
from svi_lda.anchor_start import check_anchor_sample
from svi_lda.batch import Batch
from svi_lda.bounds import topic_bound
from svi_lda.methods import get_method
from svi_lda.persistence import load_model as _load_folder
from svi_lda.persistence import save_model
from svi_lda.schedule import RobbinsMonro
from svi_lda.seeding import seed_topics
from svi_lda.step import Callback, EStepSettings
from svi_lda.training import ensure_records, fit_model, init_records, train_step

__all__ = ["Callback", "OnlineLDA", "load_model"]


class OnlineLDA(sklearn_compat.EstimatorProtocol):
    """Latent Dirichlet Allocation by stochastic variational inference (SVI), batch CAVI,
    batch collapsed VB (CVB0) or stochastic collapsed VB (SCVB0).

    Parameter and attribute names follow scikit-learn's ``LatentDirichletAllocation`` so
    code can switch by changing the import: it takes every one of its parameters, passes
    ``sklearn.utils.estimator_checks.check_estimator`` with the same tags, and works in
    pipelines, grid searches, ``clone``, ``set_output``. Defaults that differ are listed
    in the README. scikit-learn itself is optional. All log quantities are natural logs
    (nats).

    Inputs: scipy sparse or dense counts, pandas DataFrames of counts, gensim
    bag-of-words documents (a list or any iterable of them such as ``MmCorpus``, or one
    document: a list of ``(word_id, count)`` tuples), and for ``fit`` also corpus folders
    and lists or iterators of sparse minibatches.

    Parameters
    ----------
    n_components : int, default=10
        Number of topics K.
    doc_topic_prior : float, array of shape (n_components,), "auto" or None, default=None
        alpha. None means 1 / n_components. "auto" learns an asymmetric alpha by damped
        Newton steps (as gensim's ``alpha="auto"`` and Hoffman's code), also when training
        on a cluster.
    topic_word_prior : float or None, default=None
        eta, a symmetric Dirichlet prior on each topic's words. None means 1 / n_components.
    learning_method : {"online", "batch", "cvb0", "scvb0"}, default="online"
        "online" is SVI: one natural-gradient step per minibatch with step size
        rho_t = (learning_offset + t) ** -learning_decay. "batch" is coordinate ascent over
        the whole corpus each pass (rho = 1), with gamma warm-started, so the ELBO never
        decreases; for small corpora. "cvb0" is collapsed variational Bayes (zero order,
        Asuncion et al. 2009): ``max_iter`` sequential sweeps over the corpus held in
        memory (one float32 topic distribution per non-zero), no ELBO, better topics
        than "batch" on small corpora (see :mod:`svi_lda.methods.cvb0`). Set ``max_iter``
        to 50-100 sweeps: the default 10 is far from converged (20 Newsgroups, held-out
        perplexity after 10 sweeps is 24% above its value after 100 at K=20, 73% at
        K=100). ``init``, ``n_jobs`` and the E-step settings do not apply to its sweeps;
        ``partial_fit`` afterwards takes ordinary SVI steps. "scvb0" is stochastic
        collapsed VB (Foulds et al. 2013; :mod:`svi_lda.methods.scvb0`): CVB0's
        per-token update on each minibatch's documents (3 burn-in sweeps, no digamma),
        then the same Robbins-Monro step as "online" on the expected word-topic counts;
        it streams (``svi-lda stream --method scvb0``), runs on Dask (``svi-lda train
        --method scvb0``) and gives sampler-like topics in one pass
        (``benchmarks/results/scvb0.md``). Its ``total_samples`` counts documents, as for
        the other methods; ``init`` and the E-step settings do not apply, and
        ``partial_fit`` takes SCVB0 steps.
    learning_decay : float, default=0.7
        kappa in (0.5, 1].
    learning_offset : float, default=10.0
        tau0 >= 0. After an ``init="anchors"`` start, one pass with
        ``learning_offset=100, learning_decay=1.0`` averages its minibatches instead of
        forgetting the start (measured at 1M documents; see the README).
    max_iter : int, default=10
        Passes over the data that ``fit`` makes.
    batch_size : int, default=512
        Documents per minibatch (online). Smaller minibatches train the topics earlier in
        a pass; larger ones cost less per document. ``fit`` with the defaults (10 passes)
        on 20 Newsgroups at K=100, held-out perplexity / NPMI / seconds on 2 threads:
        512: 3,413 / 0.012 / 6.2; 1024: 3,273 / -0.004 / 4.3; 2048: 3,182 / -0.021 / 3.6
        (K=20: 3,617 / 0.175, 3,516 / 0.147, 3,639 / 0.172). One pass favours 512 (K=100
        perplexity 3,522 against 3,633 for 1024). With a Parquet corpus, minibatches are
        whole row groups holding at least this many documents.
    evaluate_every : int, default=-1
        As scikit-learn's: when > 0, ``fit`` computes the perplexity of the training data
        every ``evaluate_every`` passes (logged when ``verbose``) and stops once it changes
        by less than ``perp_tol``. Needs the documents in memory (not a corpus folder or
        a stream). <= 0: no evaluation, no extra cost.
    total_samples : float or None, default=None
        D, the corpus size the minibatch gradient is scaled to, in documents for every
        ``learning_method`` (for "scvb0" the expected counts are scaled by D / S, the
        minibatch's share of the documents). When None, ``fit`` uses the documents of the
        data it is given and ``partial_fit`` uses 1e6 documents, scikit-learn's default;
        set it to the size your stream stands for. (The streamer scales to the documents
        seen, or its drift window: :mod:`svi_lda.streaming.scaling`.)
    perp_tol : float, default=0.1
        Perplexity tolerance for ``evaluate_every`` (scikit-learn's).
    max_doc_update_iter : int, default=100
        Maximum gamma updates per document in the E-step.
    mean_change_tol : float, default=1e-3
        The E-step stops when the mean absolute change in gamma falls below this.
    dtype : {"float32", "float64"}, default="float32"
        Storage of lambda and the working precision of the E-step's inner loop (phinorm
        and its accumulator; rows are scaled so nothing underflows, and floored so nothing
        is subnormal). gamma and the bound are float64 either way (``transform`` returns
        float32 rows for float32 counts, as scikit-learn's tags promise). float32
        halves memory and traffic and runs faster (one K=100 pass over 20 Newsgroups:
        1.3-1.45x on an AMD EPYC, 1.2x on an Intel Xeon); it gives the same held-out
        perplexity and ELBO as float64 to 3-4 digits.
    n_jobs : int or None, default=None
        Threads for the E-step. None or -1 means all available cores.
    init : {"documents", "random", "anchors"}, default="documents"
        How lambda starts. "random": values near 1 (Hoffman's and scikit-learn's start).
        "documents": the same, plus ten times the word counts of three documents of the
        first minibatch in each topic (chosen by a hash of the seed and document ids,
        so the Dask engine picks the same ones); topics then start apart, which gives
        better held-out perplexity and coherence and fewer E-step iterations (see
        :mod:`svi_lda.seeding`). "anchors" (``learning_method="scvb0"`` only): topics
        recovered by anchor words from the co-occurrence of the first 1,000,000
        documents of the first pass (:mod:`svi_lda.anchor_start`), and a step-size
        schedule that keeps that start (``learning_offset``); for corpora of about a
        million documents or more (measured on 1M, one pass: see
        :mod:`svi_lda.anchor_start`); ``fit`` on a matrix or a corpus folder only.
    random_state : int, numpy.random.Generator, numpy.random.RandomState or None, default=None
        Seeds lambda's initialisation, each training document's initial gamma (by
        document id) and the shuffling of documents between passes. A Generator or
        RandomState is drawn from once per fit.
    verbose : int, default=0
        Log each step at INFO level when > 0 (logger ``svi_lda.training``).

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Variational topic-word parameters lambda. For "cvb0" and "scvb0": the expected
        word-topic counts plus the prior, ``N_phi + eta``, a Dirichlet parameter of the
        same kind (its normalised rows are the topic estimate). Assigning it loads those
        topics (a fresh model becomes usable for ``transform``, ``partial_fit`` continues
        from them).
    exp_dirichlet_component_ : ndarray of shape (n_components, n_features)
        exp(E[log beta]), as scikit-learn's.
    bound_ : float
        Perplexity of the training data after ``fit``: exact (scikit-learn's value) when
        the last pass was evaluated (``evaluate_every``), otherwise estimated from the
        last pass's document bounds, without another pass over the data.
    feature_names_in_ : ndarray of str
        Column names of a DataFrame ``fit`` was given, when they are all strings.
    state_ : GlobalState
        The global parameters in their lazy form (shared with the distributed engine).
    n_batch_iter_ : int
        Natural-gradient steps taken.
    n_iter_ : int
        Passes over the data made by ``fit``.
    n_features_in_ : int
        Vocabulary size V.
    vocabulary_ : Vocabulary or None
        Words for the columns, when known; enables raw-text ``transform`` and word output.
    bound_history_ : list of float
        Batch mode: the exact ELBO after each pass (nats). Online: the per-token document
        bound of each minibatch. "cvb0": the leave-one-out log predictive per token after
        each sweep (nats; not a bound). "scvb0": each minibatch's log predictive per
        token under the topics before the step and its documents' counts after burn-in
        (nats; in-sample, not a bound).
    history_ : dict of str to list of float
        One entry per step under "step", "n_docs_seen", "figure", "rho", "n_features",
        "seconds"; "figure" is the method's per-step figure, named by ``figure_label_``
        ("scvb0": the minibatch's collapsed log predictive per token).
    figure_label_ : str
        What ``history_["figure"]`` holds (online: the minibatch ELBO per token).
    term_frequency_, topic_token_counts_, topic_doc_counts_ : ndarray
        Tokens of each word (n_features,), expected tokens per topic and sum of E_q[theta_d]
        per topic (n_components,): summed over the steps (online), or the last pass's
        (batch, "cvb0"; see :mod:`svi_lda.training.report`).
    """

    def __init__(
        self,
        n_components: int = 10,
        *,
        doc_topic_prior: float | np.ndarray | str | None = None,
        topic_word_prior: float | None = None,
        learning_method: str = "online",
        learning_decay: float = 0.7,
        learning_offset: float = 10.0,
        max_iter: int = 10,
        batch_size: int = 512,
        total_samples: float | None = None,
        max_doc_update_iter: int = 100,
        mean_change_tol: float = 1e-3,
        dtype: str = "float32",
        n_jobs: int | None = None,
        init: str = "documents",
        random_state: int | np.random.Generator | np.random.RandomState | None = None,
        verbose: int = 0,
        evaluate_every: int = -1,
        perp_tol: float = 1e-1,
    ) -> None:
        self.n_components = n_components
        self.doc_topic_prior = doc_topic_prior
        self.topic_word_prior = topic_word_prior
        self.learning_method = learning_method
        self.learning_decay = learning_decay
        self.learning_offset = learning_offset
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.total_samples = total_samples
        self.max_doc_update_iter = max_doc_update_iter
        self.mean_change_tol = mean_change_tol
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.init = init
        self.random_state = random_state
        self.verbose = verbose
        self.evaluate_every = evaluate_every
        self.perp_tol = perp_tol

    # -- configuration resolved at fit time (rules in svi_lda._params) ---------------
    def _check_params(self) -> None:
        _params.check_params(self)

    def _schedule(self) -> RobbinsMonro:
        return _params.schedule(self)

    def _initial_alpha(self) -> np.ndarray:
        return _params.initial_alpha(self.n_components, self.doc_topic_prior)

    @property
    def _learn_alpha(self) -> bool:
        return isinstance(self.doc_topic_prior, str) and self.doc_topic_prior == "auto"

    def _n_threads(self) -> int:
        return _params.n_threads(self.n_jobs)

    def _resolve_seed(self) -> int:
        return _params.resolve_seed(self.random_state)

    def _settings(self) -> EStepSettings:
        return EStepSettings(
            max_doc_update_iter=int(self.max_doc_update_iter),
            mean_change_tol=float(self.mean_change_tol),
            seed=self.random_seed_,
        )

    def _init_state(self, n_features: int, *, anchor_sample: bool = False) -> None:
        """A fresh state over ``n_features`` words. ``anchor_sample``: the caller starts
        the topics from a sample (``init="anchors"``), which only ``fit`` on a matrix or
        a corpus folder does; other callers get the one-line refusal."""
        self._check_params()
        check_anchor_sample(self, anchor_sample)
        self.random_seed_ = self._resolve_seed()
        self.state_ = _params.initial_state(self, n_features)
        self.n_features_in_ = n_features
        self.n_iter_ = 0
        # history_, figure_label_, bound_history_ and the per-topic statistics
        init_records(self, get_method(self.learning_method))
        self._topics_assigned = False

    def _check_fitted(self) -> None:
        if getattr(self, "state_", None) is None:
            raise sklearn_compat.not_fitted_error(
                "This OnlineLDA instance is not fitted yet. Call 'fit' or 'partial_fit' first."
            )
        if getattr(self, "sharded_checkpoint_", None) is not None:  # W stayed on the shards
            raise ValueError(
                f"this model's topics are in the sharded checkpoint {self.sharded_checkpoint_} "
                "(too large to gather here): query it on a cluster with "
                "svi_lda.distributed.sharded.ShardedModel.open(client, checkpoint) "
                "(transform, top_words, score, perplexity), or assemble it where it fits with "
                "load_sharded_model"
            )

    # -- fitting ------------------------------------------------------------------------
    def fit(
        self,
        X: Any,
        y: object = None,
        *,
        vocabulary: Any = None,
        callbacks: Sequence[Callback] = (),
        id2word: Any = None,
    ) -> OnlineLDA:
        """Fit the model from scratch.

        Parameters
        ----------
        X : sparse matrix, array-like, pandas DataFrame of counts, gensim bag-of-words
            documents (a list, ``MmCorpus`` or any iterable of them), ParquetCorpus, corpus
            folder path, or a list or iterator of sparse minibatches
            Document-term counts of shape (n_documents, n_features). Bag-of-words
            documents are read into memory once (for a corpus larger than memory, convert
            it with :func:`svi_lda.corpus.from_gensim` and fit on the folder). An iterator
            of minibatches is consumed once (set ``total_samples``); a list of them is
            passed over ``max_iter`` times.
        y : ignored
        vocabulary : Vocabulary or list of str, optional
            Words for the columns (taken from the corpus when X is one, from ``id2word``
            or from a DataFrame's column names otherwise).
        callbacks : sequence of callables
            Each is called with a :class:`~svi_lda.step.StepMetrics` after every step (in
            batch mode, after every pass: ``rho`` 1 and ``bound_per_token`` the exact
            ELBO per token).
        id2word : gensim Dictionary or mapping of word id to word, optional
            The vocabulary of bag-of-words input: its size is the number of features
            (required for bag-of-words unless the corpus has ``num_terms``).

        Returns
        -------
        self
        """
        data, vocabulary, feature_names = fit_input(X, vocabulary=vocabulary, id2word=id2word)
        self._check_params()  # before the monitor reads evaluate_every
        monitor = sklearn_compat.FitMonitor(self, data)
        self.state_ = None
        try:
            fit_model(self, data, vocabulary=vocabulary, callbacks=[*callbacks, monitor])
        except sklearn_compat.Converged:
            self.n_iter_ = monitor.passes
        self.bound_ = monitor.final_perplexity()
        sklearn_compat.record_feature_names(self, feature_names)
        return self

    def partial_fit(self, X: Any, y: object = None, *, id2word: Any = None) -> OnlineLDA:
        """One step on the minibatch ``X``: an SCVB0 step for ``learning_method="scvb0"``,
        an SVI step otherwise.

        The gradient is scaled to ``total_samples`` documents: when it is None, 1e6,
        scikit-learn's default. Documents get ids continuing from the documents seen so
        far; pass a :class:`~svi_lda.batch.Batch` to give your own. ``id2word`` gives the
        vocabulary size of bag-of-words input on the first call.
        """
        if is_texts(X):
            from svi_lda.streaming.partial import partial_fit_texts

            return partial_fit_texts(self, X)
        first = getattr(self, "state_", None) is None
        batch, found = inference.read_documents(self, X, first_doc_id=None, id2word=id2word)
        if first:
            self._init_state(batch.n_features)
            sklearn_compat.record_feature_names(self, found.feature_names)
        total = _params.partial_fit_total_samples(self, batch)
        train_step(self, [batch], total_samples=float(total))
        return self

    def _seed_if_new(self, units: Sequence[Batch]) -> None:
        """Seed the topics from ``units`` before the very first step (``init="documents"``),
        as the run loop does; topics assigned through ``components_`` are kept."""
        assigned = getattr(self, "_topics_assigned", False)
        if self.init == "documents" and self.state_.step == 0 and not assigned:
            seed_topics(self.state_, units, self.random_seed_)

    # -- inference ----------------------------------------------------------------------
    def _infer(self, X: Any) -> tuple[np.ndarray, float, float, bool]:
        """E-step without updating the model: (gamma, document bound, token count, whether
        the counts came as float32); see :mod:`svi_lda.inference`."""
        found = inference.infer(self, X)
        return found.gamma, found.doc_bound, found.n_tokens, found.float32

    def transform(self, X: Any) -> Any:
        """Topic distribution of each document, shape (n_documents, n_components).

        Rows are E_q[theta_d] = gamma_d / sum(gamma_d) and sum to 1; an empty document
        gets the normalised prior. An SCVB0 model (``learning_method="scvb0"``) folds
        documents in by its own local step instead of SVI's E-step: rows ``(N_theta_d +
        alpha) / (N_d + sum(alpha))`` (:func:`svi_lda.methods.scvb0.scvb0_fold_in`).
        Accepts the same inputs as ``fit``'s matrices, gensim bag-of-words (documents or
        one document), pandas DataFrames of counts, and raw strings when the model carries
        a vocabulary. A document's row does not depend on
        the other documents or their order. float32 counts give float32 rows (computed in
        float64, as scikit-learn's tags promise), other inputs float64; ``set_output``
        chooses the container.
        """
        method_fold_in = getattr(get_method(self.learning_method), "fold_in", None)
        if method_fold_in is None:
            gamma, _, _, float32 = self._infer(X)
        else:  # the method's own local step (SCVB0's), not SVI's E-step
            gamma, float32 = inference.fold_in(self, X, method_fold_in)
        theta = gamma / gamma.sum(axis=1, keepdims=True)
        if float32:
            theta = theta.astype(np.float32)
        return sklearn_compat.wrap_output(self, theta, X)

    def fit_transform(self, X: Any, y: object = None, **fit_params: Any) -> Any:
        """``fit(X)`` then ``transform(X)`` (a one-shot iterator is read once)."""
        if isinstance(X, Iterator):
            X = recognise(X, n_features=None, id2word=fit_params.get("id2word")).data
        return self.fit(X, **fit_params).transform(X)

    def score(self, X: Any, y: object = None) -> float:
        """Evidence lower bound of X under the model, in nats (higher is better).

        The documents' terms plus the topics' prior terms (scikit-learn's ``score``).
        """
        _, doc_bound, _, _ = self._infer(X)
        return doc_bound + topic_bound(self.state_)

    def perplexity(self, X: Any) -> float:
        """exp(-score(X) / number of tokens in X), scikit-learn's definition.

        For held-out evaluation by document completion, see
        :func:`svi_lda.evaluation.completion_perplexity`.
        """
        _, doc_bound, n_tokens, _ = self._infer(X)
        if n_tokens <= 0:
            raise ValueError("perplexity needs documents with at least one token.")
        return float(np.exp(-(doc_bound + topic_bound(self.state_)) / n_tokens))

    # -- topics -------------------------------------------------------------------------
    @property
    def components_(self) -> np.ndarray:
        """lambda, shape (n_components, n_features), float64; assign to load topics."""
        self._check_fitted()
        return self.state_.lambda_()

    @components_.setter
    def components_(self, value: Any) -> None:
        sklearn_compat.assign_components(self, value)

    @property
    def exp_dirichlet_component_(self) -> np.ndarray:
        """exp(E[log beta]), shape (n_components, n_features) (scikit-learn's attribute)."""
        lam = self.components_
        return np.exp(digamma(lam) - digamma(lam.sum(axis=1, keepdims=True)))

    @property
    def n_batch_iter_(self) -> int:
        """Natural-gradient steps taken."""
        self._check_fitted()
        return self.state_.step

    @property
    def doc_topic_prior_(self) -> np.ndarray:
        """alpha, shape (n_components,) (learned when doc_topic_prior='auto')."""
        self._check_fitted()
        return self.state_.alpha.copy()

    def get_topics(self) -> np.ndarray:
        """E_q[beta]: each topic's word distribution, shape (n_components, n_features)."""
        lam = self.components_
        return lam / lam.sum(axis=1, keepdims=True)

    def top_words(self, n: int = 10) -> list[list[tuple[str | int, float]]]:
        """For each topic, its ``n`` most probable words (or ids) with their probabilities."""
        topics = self.get_topics()
        vocab = getattr(self, "vocabulary_", None)
        words = vocab if vocab is None or isinstance(vocab, list | tuple) else vocab.words
        from svi_lda.numerics.topk import top_indices

        top = top_indices(topics, n)
        return [
            [((words[j] if words is not None else int(j)), float(topics[k, j])) for j in row]
            for k, row in enumerate(top)
        ]

    # -- persistence --------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to folder ``path`` atomically (no pickle). See :func:`load_model`.

        ``path`` may be an fsspec URL such as ``s3://bucket/model`` (see
        :mod:`svi_lda.storage`).
        """
        save_model(self, path)

    def refresh(self) -> bool:
        """Reload from the folder this model was loaded from if a newer save is there.

        Returns whether the model changed (see :func:`svi_lda.persistence.refresh_model`).
        """
        from svi_lda.persistence import refresh_model

        return refresh_model(self)


def load_model(path: str | os.PathLike[str]) -> OnlineLDA:
    """Load a model saved by :meth:`OnlineLDA.save` (``svi_lda.load``; never unpickles).

    The folder's content is checked by :func:`svi_lda.persistence.load_model`. ``path``
    may be an fsspec URL such as ``s3://bucket/model`` (see :mod:`svi_lda.storage`).
    """
    model = _load_folder(path, estimator=OnlineLDA)
    label = getattr(model, "figure_label_", None)
    # What the files do not hold (a version-1 model): empty history, zero statistics.
    ensure_records(model, get_method(model.learning_method))
    if label is not None:
        model.figure_label_ = label  # what the saved history's figures are
    return model
