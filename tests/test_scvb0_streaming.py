"""SCVB0 in the streamer: the same steps as partial_fit, D in documents, snapshots that
load, continue and refresh; the Dask E-steps give the same model."""

from __future__ import annotations

import numpy as np
import pytest

import svi_lda
from svi_lda import OnlineLDA
from svi_lda.streaming import stream
from tests.stream_helpers import write_stream

FRUIT = "apple banana cherry grape melon".split()
CARS = "car truck engine wheel road".split()
PETS = "cat dog mouse bird fish".split()
SCVB0 = {"learning_method": "scvb0"}


def _texts(n: int, seed: int = 0, length: int = 12) -> list[str]:
    rng = np.random.default_rng(seed)
    groups = (FRUIT, CARS, PETS)
    return [" ".join(rng.choice(groups[rng.integers(3)], length)) for _ in range(n)]


def assert_same_model(a: OnlineLDA, b: OnlineLDA) -> None:
    assert a.learning_method == b.learning_method == "scvb0"
    assert a.state_.step == b.state_.step and a.state_.scale == b.state_.scale
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    np.testing.assert_array_equal(a.doc_topic_prior_, b.doc_topic_prior_)
    assert a.vocabulary_ == b.vocabulary_


@pytest.mark.parametrize("alpha", [None, "auto"])
def test_stream_takes_the_scvb0_steps_partial_fit_takes(tmp_path, alpha):
    """With the drift scaling (D = the window, rho = the model's schedule while it is above
    batch / window) a stream's steps are partial_fit's with total_samples = the window:
    the same model, bitwise (SVI steps, what the streamer took before, differ)."""
    texts = _texts(500, seed=1)
    write_stream(tmp_path / "src", texts, 70)
    window, batch = 1_000_000, 100
    params = {**SCVB0, "doc_topic_prior": alpha}
    stream(tmp_path / "src", tmp_path / "model", n_components=3, once=True,
           batch_size=batch, schedule="drift", drift_window=window, model_params=params)
    streamed = svi_lda.load(tmp_path / "model")
    stepped = OnlineLDA(3, random_state=0, batch_size=batch, total_samples=window, **params)
    for start in range(0, len(texts), batch):
        stepped.partial_fit(texts[start : start + batch])
    assert streamed.state_.step == 5
    assert_same_model(streamed, stepped)
    assert streamed.history_["rho"] == stepped.history_["rho"]
    assert streamed.figure_label_ == stepped.figure_label_
    assert "log predictive" in streamed.figure_label_


def test_stationary_stream_scales_to_the_documents_seen(tmp_path):
    """D is the documents seen, this minibatch included (not tokens): each step is
    ``N <- (1 - rho) N + rho (D / S) stats``, whose total the recursion below follows from
    the start (counted in tokens, D / S would be 12x larger, the documents' length)."""
    texts = _texts(1200, seed=2)
    write_stream(tmp_path / "src", texts, 200)
    stream(tmp_path / "src", tmp_path / "model", n_components=3, once=True, batch_size=100,
           model_params=SCVB0)
    model = svi_lda.load(tmp_path / "model")
    assert model.state_.n_docs_seen == 1200 and model.n_features_in_ == 15
    start = OnlineLDA(3, random_state=0, **SCVB0)
    start._init_state(15)
    total = start.state_.scale * float(start.state_.topic_sums.sum())
    for step, rho in enumerate(model.history_["rho"], start=1):
        docs_seen = 100 * step
        assert rho == pytest.approx(min(model._schedule().rho(step - 1), 100 / docs_seen))
        total = (1 - rho) * total + rho * (docs_seen / 100) * (12 * 100)
    counts = model.state_.scale * float(model.state_.topic_sums.sum())
    assert counts == pytest.approx(total, rel=1e-6)
    top = {w for topic in model.top_words(5) for w, _ in topic}
    assert top == set(FRUIT + CARS + PETS)


def test_a_continued_stream_equals_an_uninterrupted_one_and_readers_refresh(tmp_path):
    texts = _texts(900, seed=3)
    write_stream(tmp_path / "all", texts, 100)
    settings = dict(once=True, batch_size=100, snapshot_every=2)
    stream(tmp_path / "all", tmp_path / "whole", n_components=3, model_params=SCVB0,
           **settings)
    names = write_stream(tmp_path / "src", texts[:400], 100)  # whole minibatches
    stream(tmp_path / "src", tmp_path / "model", n_components=3, model_params=SCVB0,
           **settings)
    reader = svi_lda.load(tmp_path / "model")
    assert reader.learning_method == "scvb0"
    before = reader.transform(["cat dog mouse", "car road truck"])
    np.testing.assert_allclose(before.sum(axis=1), 1.0, rtol=1e-12)
    assert not reader.refresh()
    write_stream(tmp_path / "src", texts[400:], 100, first=len(names))
    stream(tmp_path / "src", tmp_path / "model", model_params=SCVB0, **settings)  # no K
    assert reader.refresh()
    assert_same_model(reader, svi_lda.load(tmp_path / "whole"))
    assert reader.state_.n_docs_seen == 900


def test_scvb0_stream_e_steps_on_a_dask_cluster_give_the_same_model(tmp_path, dask_client):
    write_stream(tmp_path / "src", _texts(1300, seed=6), 250)
    settings = dict(once=True, batch_size=600, n_components=3, model_params=SCVB0)
    stream(tmp_path / "src", tmp_path / "local", **settings)
    stream(tmp_path / "src", tmp_path / "dask", client=dask_client, **settings)
    a, b = svi_lda.load(tmp_path / "local"), svi_lda.load(tmp_path / "dask")
    assert a.state_.step == b.state_.step == 3  # minibatches of two units each
    assert_same_model(a, b)
    assert a.history_["figure"] == b.history_["figure"]


def test_stream_cli_method_scvb0(tmp_path, capsys):
    from pipelines.stream import main

    write_stream(tmp_path / "src", _texts(300, seed=4), 100)
    code = main([str(tmp_path / "src"), "--model", str(tmp_path / "model"), "--topics", "3",
                 "--method", "scvb0", "--once", "--batch-size", "100", "--log-every", "1"])
    assert code == 0
    err = capsys.readouterr().err
    assert "log-predictive/token" in err and "ELBO" not in err
    assert svi_lda.load(tmp_path / "model").learning_method == "scvb0"
