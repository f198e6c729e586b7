"""``fit_in_process``: ``fit_distributed``'s job (checkpoints, resume) on this process's
threads, what ``svi-lda train`` runs without a cluster (issue 16). The reference is
``OnlineLDA.fit`` on the same corpus folder, bitwise."""

from __future__ import annotations

import numpy as np
import pytest

from svi_lda import OnlineLDA
from svi_lda.corpus import ParquetCorpus, from_csr
from svi_lda.distributed.in_process import fit_in_process
from svi_lda.estimator import load_model
from svi_lda.synthetic import make_lda_corpus

PARAMS = dict(n_components=4, batch_size=200, max_iter=3, doc_topic_prior="auto",
              random_state=3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> ParquetCorpus:
    syn = make_lda_corpus(600, 300, 4, doc_length=40, seed=1)
    path = tmp_path_factory.mktemp("in_process") / "corpus"
    return from_csr(syn.X, [f"w{i}" for i in range(300)], path, row_group_size=50)


@pytest.fixture(scope="module")
def reference(corpus) -> OnlineLDA:
    return OnlineLDA(**PARAMS).fit(corpus.path)


def assert_same_model(a: OnlineLDA, b: OnlineLDA) -> None:
    """The state and every record a model file keeps (history but its timings)."""
    assert a.n_batch_iter_ == b.n_batch_iter_ and a.n_iter_ == b.n_iter_
    assert a.state_.scale == b.state_.scale
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    np.testing.assert_array_equal(a.doc_topic_prior_, b.doc_topic_prior_)
    assert a.bound_history_ == b.bound_history_
    for key in ("step", "n_docs_seen", "figure", "rho"):
        assert a.history_[key] == b.history_[key], key
    for name in ("term_frequency_", "topic_token_counts_", "topic_doc_counts_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_equals_fit_on_the_corpus_for_any_number_of_threads(corpus, reference, tmp_path):
    for n_jobs in (1, 2):
        model = fit_in_process(OnlineLDA(**PARAMS, n_jobs=n_jobs), corpus,
                               checkpoint_dir=tmp_path / f"ckpt{n_jobs}", checkpoint_every=2)
        assert_same_model(model, reference)
        assert_same_model(load_model(tmp_path / f"ckpt{n_jobs}"), reference)


class Crash(RuntimeError):
    pass


def test_a_run_that_dies_after_a_checkpoint_resumes_to_the_uninterrupted_model(
    corpus, reference, tmp_path
):
    """The process dies two steps after the checkpoint of step 6 (no final checkpoint);
    the resumed run's model equals ``fit``'s, its records included (a checkpoint holds
    the records of its own step)."""
    ckpt = tmp_path / "ckpt"

    def die_at_step_8(metrics) -> None:
        if metrics.step == 8:
            raise Crash

    with pytest.raises(Crash):
        fit_in_process(OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt, checkpoint_every=3,
                       callbacks=[die_at_step_8])
    saved = load_model(ckpt)
    assert saved.n_batch_iter_ == 6 and len(saved.bound_history_) == 6
    resumed = fit_in_process(OnlineLDA(**PARAMS), corpus, checkpoint_dir=ckpt,
                             checkpoint_every=3, resume=True)
    assert_same_model(resumed, reference)


def test_steps_and_epochs_count_from_step_zero(corpus, tmp_path):
    ckpt = tmp_path / "ckpt"
    fit_in_process(OnlineLDA(**PARAMS), corpus, n_steps=4, checkpoint_dir=ckpt)
    model = fit_in_process(OnlineLDA(**PARAMS), corpus, n_steps=5, checkpoint_dir=ckpt,
                           resume=True)
    assert model.n_batch_iter_ == 5
    model = fit_in_process(OnlineLDA(**PARAMS), corpus, n_epochs=2, checkpoint_dir=ckpt,
                           resume=True)
    assert_same_model(model, OnlineLDA(**{**PARAMS, "max_iter": 2}).fit(corpus.path))


def test_methods_that_sweep_the_corpus_are_refused(corpus):
    with pytest.raises(ValueError, match="got 'cvb0'"):
        fit_in_process(OnlineLDA(4, learning_method="cvb0"), corpus)
