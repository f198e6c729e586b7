"""The run loop: its records on the model, its sources' walks, methods plugged in."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda import OnlineLDA, load
from svi_lda.batch import Batch
from svi_lda.methods import get_method, method_names
from svi_lda.step import EStepSettings, estep_unit, unit_vocabulary
from svi_lda.synthetic import make_lda_corpus
from svi_lda.training import (
    HISTORY_KEYS,
    ThreadEngine,
    run_loop,
    start_record,
    train_step,
    walk,
)
from svi_lda.training.sources import MatrixSource

K = 4


@pytest.fixture(scope="module")
def X() -> sp.csr_matrix:
    return sp.csr_matrix(make_lda_corpus(400, 120, K, doc_length=40, seed=5).X)


def fit(X, **params) -> OnlineLDA:
    params = {"batch_size": 100, "max_iter": 2, "random_state": 0, "n_jobs": 1,
              "dtype": "float64", **params}
    return OnlineLDA(K, **params).fit(X)


def test_history_has_one_entry_per_step(X):
    model = fit(X)
    history = model.history_
    assert tuple(history) == HISTORY_KEYS
    assert {len(v) for v in history.values()} == {model.n_batch_iter_} == {8}
    assert all(isinstance(x, float) for v in history.values() for x in v)
    assert history["step"] == [float(s) for s in range(1, 9)]
    assert history["n_docs_seen"] == [100.0 * s for s in range(1, 9)]
    assert history["figure"] == model.bound_history_  # the minibatch ELBO per token
    assert history["n_features"] == [120.0] * 8
    assert history["rho"] == [model._schedule().rho(t) for t in range(8)]
    assert model.figure_label_ == "minibatch ELBO per token (nats)"


def test_online_statistics_add_up_over_the_steps(X):
    model = fit(X)
    n_tokens = float(X.sum())
    # two passes over every document: twice the corpus's word counts
    np.testing.assert_allclose(model.term_frequency_, 2 * np.asarray(X.sum(axis=0)).ravel(),
                               rtol=1e-10)
    assert model.topic_token_counts_.shape == model.topic_doc_counts_.shape == (K,)
    np.testing.assert_allclose(model.topic_token_counts_.sum(), 2 * n_tokens, rtol=1e-10)
    np.testing.assert_allclose(model.topic_doc_counts_.sum(), 2 * X.shape[0], rtol=1e-10)
    assert np.all(model.topic_token_counts_ > 0) and np.all(model.topic_doc_counts_ > 0)
    # a fresh model starts from zeros
    fresh = OnlineLDA(K, total_samples=400, random_state=0)
    fresh._init_state(120)
    assert not fresh.term_frequency_.any() and fresh.history_["step"] == []


@pytest.mark.parametrize("method", ["batch", "cvb0"])
def test_pass_methods_keep_the_last_pass_statistics(X, method):
    model = fit(X, learning_method=method, max_iter=3)
    np.testing.assert_allclose(model.term_frequency_, np.asarray(X.sum(axis=0)).ravel(),
                               rtol=1e-10)
    # CVB0's responsibilities are float32: its expected counts add up to 1e-6
    np.testing.assert_allclose(model.topic_token_counts_.sum(), X.sum(), rtol=1e-6)
    np.testing.assert_allclose(model.topic_doc_counts_.sum(), X.shape[0], rtol=1e-6)
    assert model.history_["step"] == [1.0, 2.0, 3.0]
    assert model.history_["rho"] == [1.0, 1.0, 1.0]
    assert model.figure_label_ == get_method(method).figure_label


def test_theta_sum_is_the_documents_normalised_gamma(X):
    model = fit(X, max_iter=1)
    batch = Batch.from_csr(X[:50])
    ids, index = unit_vocabulary(batch)
    rows, shift = model.state_.exp_elog_beta_rows(ids)
    stats, gamma = estep_unit(batch, index, ids, rows, shift, model.state_.alpha,
                              EStepSettings())
    np.testing.assert_allclose(stats.theta_sum, (gamma / gamma.sum(1, keepdims=True)).sum(0),
                               rtol=1e-12)
    np.testing.assert_allclose(stats.theta_sum.sum(), 50, rtol=1e-12)


def test_walk_resumes_where_a_record_says(X):
    source = MatrixSource(X)
    full = list(walk(source, grouping="minibatches", batch_size=60, seed=3, n_epochs=3))
    assert len(full) == 3 * 7 and [m.last_in_epoch for m in full[:7]] == [False] * 6 + [True]
    for cut in (1, 5, 6, 7, 9):
        record = full[cut - 1].resume
        rest = list(walk(source, grouping="minibatches", batch_size=60, seed=3, n_epochs=3,
                         start=record))
        assert len(rest) == len(full) - cut
        for a, b in zip(rest, full[cut:], strict=True):
            assert (a.epoch, a.position) == (b.epoch, b.position)
            assert [source.key(u) for u in a.units] == [source.key(u) for u in b.units]
            assert a.resume == b.resume  # the records after a resume remember the past
    assert full[-1].resume == start_record(3)


def test_train_step_is_one_recorded_step(X):
    a = OnlineLDA(K, total_samples=400, random_state=0, n_jobs=1)
    b = OnlineLDA(K, total_samples=400, random_state=0, n_jobs=1)
    a.partial_fit(X[:100])
    b._init_state(120)
    seen = []
    metrics = train_step(b, [Batch.from_csr(X[:100])], total_samples=400,
                         callbacks=[seen.append])
    assert seen == [metrics] and metrics.step == 1
    np.testing.assert_array_equal(a.components_, b.components_)
    assert len(b.history_["step"]) == 1
    for key in ("step", "n_docs_seen", "figure", "rho", "n_features"):  # not the seconds
        assert a.history_[key] == b.history_[key]


def test_a_loaded_model_keeps_training_and_recording(X, tmp_path):
    model = fit(X, total_samples=400)
    model.save(tmp_path / "m")
    again = load(tmp_path / "m")  # the model files hold the records: they continue
    assert again.history_ == model.history_ and again.figure_label_ == model.figure_label_
    again.partial_fit(X[:100])
    assert len(again.history_["step"]) == len(model.history_["step"]) + 1
    assert again.term_frequency_.shape == (120,)
    for name in ("history_", "figure_label_", "term_frequency_", "topic_token_counts_",
                 "topic_doc_counts_"):
        model.__dict__.pop(name)
    model.save(tmp_path / "bare")  # files without records: the loaded model starts them
    bare = load(tmp_path / "bare")
    assert bare.history_["step"] == [] and bare.figure_label_ == again.figure_label_
    bare.partial_fit(X[:100])
    assert len(bare.history_["step"]) == 1 and bare.term_frequency_.shape == (120,)


def test_the_loop_knows_a_method_only_through_its_pieces(X):
    """A method the estimator never heard of runs in the loop: here SVI under another
    name, with a local step that counts its calls."""
    online = get_method("online")
    calls = []

    def counting_local_step(*args, **kwargs):
        calls.append(1)
        return online.local_step(*args, **kwargs)

    renamed = dataclasses.replace(online, name="counted")
    object.__setattr__(renamed, "local_step", counting_local_step)
    model = OnlineLDA(K, batch_size=100, max_iter=2, random_state=0, n_jobs=1)
    model._init_state(X.shape[1])
    source = MatrixSource(X)
    minibatches = walk(source, grouping=renamed.grouping, batch_size=100,
                       seed=model.random_seed_, n_epochs=2)
    run_loop(model, renamed, ThreadEngine(model, renamed, source, n_threads=1), minibatches,
             total_samples=400, n_threads=1)
    assert len(calls) == 8
    reference = OnlineLDA(K, batch_size=100, max_iter=2, random_state=0, n_jobs=1).fit(X)
    np.testing.assert_array_equal(model.components_, reference.components_)
    assert model.n_iter_ == 2


def test_methods_are_found_by_module():
    assert method_names()[:3] == ("online", "batch", "cvb0")
    with pytest.raises(ValueError, match="'online', 'batch', 'cvb0'"):
        get_method("gibbs")


def test_a_stream_of_minibatches_checkpoints_its_own_records(X):
    """How a streamer drives the loop: Batches in memory, its own resume records, a
    checkpoint every 2 steps and one at the end, each with the record of its step."""
    from svi_lda.training import Checkpointing, InMemoryUnits, Minibatch

    model = OnlineLDA(K, total_samples=400, random_state=0, n_jobs=1)
    model._init_state(X.shape[1])
    method = get_method("online")
    minibatches = (
        Minibatch(0, i, False, [Batch.from_csr(X[a : a + 70], first_doc_id=a)],
                  record={"rows_done": a + 70})
        for i, a in enumerate(range(0, 350, 70))
    )
    written = []

    def write(record):
        written.append((model.state_.step, record))

    run_loop(model, method, ThreadEngine(model, method, InMemoryUnits(120), n_threads=1),
             minibatches, total_samples=400, n_threads=1,
             checkpointing=Checkpointing(write=write, every=2))
    assert written == [(2, {"rows_done": 140}), (4, {"rows_done": 280}),
                       (5, {"rows_done": 350})]
    assert model.n_iter_ == 0 and len(model.history_["step"]) == 5
    same = OnlineLDA(K, total_samples=400, random_state=0, n_jobs=1)
    for a in range(0, 350, 70):
        same.partial_fit(Batch.from_csr(X[a : a + 70], first_doc_id=a))
    np.testing.assert_array_equal(model.components_, same.components_)


def test_a_new_method_is_one_module(X, tmp_path, monkeypatch):
    """A module defining METHOD in the methods package is a learning_method: the estimator,
    the loop and the records take it with no change anywhere else."""
    import svi_lda.methods as methods

    (tmp_path / "halfstep.py").write_text(
        "import dataclasses\n"
        "from svi_lda.methods.online import OnlineSVI\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class HalfStep(OnlineSVI):\n"
        "    name: str = 'halfstep'\n"
        "    figure_label: str = 'half'\n"
        "    def global_update(self, state, stats, context):\n"
        "        context = dataclasses.replace(context, total_samples=context.total_samples / 2)\n"
        "        return super().global_update(state, stats, context)\n"
        "METHOD = HalfStep()\n"
    )
    monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(tmp_path)])
    methods._registry.cache_clear()
    try:
        assert "halfstep" in method_names()
        model = fit(X, learning_method="halfstep", total_samples=800)
        assert model.figure_label_ == "half" and len(model.history_["step"]) == 8
        same = fit(X, total_samples=400)  # SVI with half the corpus size
        np.testing.assert_array_equal(model.components_, same.components_)
    finally:
        monkeypatch.undo()
        methods._registry.cache_clear()
    assert "halfstep" not in method_names()


def test_history_of_an_endless_run_stays_bounded(monkeypatch):
    """Past HISTORY_LIMIT entries the history is thinned (first and last kept), so a
    stream that never ends keeps a bounded training curve."""
    from svi_lda.training import report

    monkeypatch.setattr(report, "HISTORY_LIMIT", 8)
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.poisson(0.3, size=(400, 30)).astype(float))
    model = OnlineLDA(3, batch_size=10, max_iter=1, random_state=0, n_jobs=1).fit(X)
    assert model.n_batch_iter_ == 40
    steps = model.history_["step"]
    assert len(steps) <= 8 and len(model.bound_history_) <= 8
    assert steps[0] == 1.0 and steps[-1] == 40.0
    assert steps == sorted(steps)
    assert {len(v) for v in model.history_.values()} == {len(steps)}
