"""The HTML report's contents and the pyLDAvis export (the browser test is separate)."""

from __future__ import annotations

import copy
import gzip
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy.special import rel_entr

from pipelines.cli import main as cli_main
from svi_lda import OnlineLDA
from svi_lda.corpus import ParquetCorpus, from_csr, ingest
from svi_lda.report import render_report, to_pyldavis, write_report
from svi_lda.report.distance import classical_mds, topic_distances
from svi_lda.report.examples import top_documents
from svi_lda.report.summary import (
    term_frequency,
    top_words,
    topic_sizes,
    training_curve,
    vocabulary_growth,
)
from svi_lda.synthetic import make_lda_corpus

K, V = 5, 60


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> ParquetCorpus:
    data = make_lda_corpus(240, V, K, doc_length=40, seed=3)
    words = [f"word{j:02d}" for j in range(V)]
    # Shuffled document ids, so that order in the file and id order differ.
    ids = np.random.default_rng(1).permutation(10_000)[: data.n_docs] + 5
    return from_csr(data.X, words, tmp_path_factory.mktemp("corpus"), doc_ids=ids,
                    row_group_size=32)


@pytest.fixture(scope="module")
def fitted(corpus: ParquetCorpus) -> OnlineLDA:
    return OnlineLDA(n_components=K, batch_size=64, max_iter=3, random_state=0).fit(corpus)


@pytest.fixture
def model(fitted: OnlineLDA) -> OnlineLDA:
    """A copy of the fitted model that a test may change."""
    return copy.deepcopy(fitted)


def with_fit_statistics(model: OnlineLDA, *, growing: bool = True) -> OnlineLDA:
    """Set the statistics a fit keeps (history_, counts) as the run loop maintains them."""
    n = len(model.bound_history_)
    model.history_ = {
        "step": list(range(1, n + 1)),
        "n_docs_seen": [64 * (i + 1) for i in range(n)],
        "figure": list(model.bound_history_),
        "rho": [(10.0 + i) ** -0.7 for i in range(n)],
        "n_features": [V - (n - 1 - i) if growing else V for i in range(n)],
        "seconds": [0.01 * (i + 1) for i in range(n)],
    }
    model.figure_label_ = "minibatch ELBO per token (nats)"
    rng = np.random.default_rng(7)
    model.topic_token_counts_ = rng.integers(100, 1000, K).astype(np.float64)
    model.topic_doc_counts_ = rng.integers(10, 100, K).astype(np.float64)
    model.term_frequency_ = rng.integers(1, 50, V).astype(np.float64)
    return model


def clear_fit_statistics(model: OnlineLDA) -> OnlineLDA:
    for name in ("history_", "figure_label_", "topic_token_counts_", "topic_doc_counts_",
                 "term_frequency_"):
        if hasattr(model, name):
            delattr(model, name)
    return model


class _TextByTopic(HTMLParser):
    """Visible text of the page, and of each ``<article id="topic-k">`` (scripts excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.topic: str | None = None
        self.depth = 0
        self.text: list[str] = []
        self.by_topic: dict[str, list[str]] = {}
        self.external: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "link", "img", "iframe") and (attrs.get("src") or attrs.get("href")):
            self.external.append(f"<{tag} {attrs}>")
        self.stack.append(tag)
        if tag == "article" and str(attrs.get("id", "")).startswith("topic-"):
            self.topic, self.depth = attrs["id"], len(self.stack)
            self.by_topic[self.topic] = []

    def handle_endtag(self, tag):
        if self.topic and tag == "article" and len(self.stack) == self.depth:
            self.topic = None
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] in ("script", "style"):
            return
        self.text.append(data)
        if self.topic:
            self.by_topic[self.topic].append(data)


def parse(page: str) -> _TextByTopic:
    parser = _TextByTopic()
    parser.feed(page)
    return parser


# -- distances and the map ----------------------------------------------------------------
def test_topic_distances_equal_plain_jensen_shannon():
    rng = np.random.default_rng(0)
    topics = rng.dirichlet(np.full(30, 0.3), size=6)
    topics[:, :3] = 0.0  # zeros must not give NaN
    topics /= topics.sum(axis=1, keepdims=True)
    expected = np.zeros((6, 6))
    for i in range(6):
        for j in range(6):
            m = 0.5 * (topics[i] + topics[j])
            js = 0.5 * rel_entr(topics[i], m).sum() + 0.5 * rel_entr(topics[j], m).sum()
            expected[i, j] = np.sqrt(max(js, 0.0))
    np.testing.assert_allclose(topic_distances(topics), expected, atol=1e-12)


def test_classical_mds_recovers_a_planar_configuration():
    points = np.random.default_rng(2).normal(size=(9, 2)) * [3.0, 1.0]
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    coords = classical_mds(d)
    d2 = np.sqrt(((coords[:, None] - coords[None]) ** 2).sum(-1))
    np.testing.assert_allclose(d2, d, atol=1e-9)
    # Reproducible orientation: each axis' largest coordinate is positive.
    for axis in coords.T:
        assert axis[np.argmax(np.abs(axis))] > 0


def test_classical_mds_of_one_or_two_topics():
    assert classical_mds(np.zeros((1, 1))).shape == (1, 2)
    coords = classical_mds(np.array([[0.0, 0.4], [0.4, 0.0]]))
    assert abs(coords[0, 0] - coords[1, 0]) == pytest.approx(0.4)
    np.testing.assert_array_equal(coords[:, 1], 0.0)


# -- statistics, with and without what the fit keeps ---------------------------------------
def test_sizes_and_frequencies_prefer_kept_statistics(model):
    kept = with_fit_statistics(model)
    sizes, source = topic_sizes(kept)
    np.testing.assert_array_equal(sizes, kept.topic_token_counts_)
    assert "fit" in source
    np.testing.assert_array_equal(term_frequency(kept)[0], kept.term_frequency_)


def test_sizes_and_frequencies_fall_back_to_vocabulary_then_lambda(model, corpus):
    clear_fit_statistics(model)
    lam = model.components_
    eta = model.state_.eta
    np.testing.assert_allclose(topic_sizes(model)[0], lam.sum(axis=1) - V * eta, rtol=1e-6)
    # A model fitted on a corpus folder carries ingest's word counts.
    tf, source = term_frequency(model)
    np.testing.assert_array_equal(tf, np.asarray(corpus.to_csr().sum(axis=0)).ravel())
    assert "vocabulary" in source
    vocabulary = model.vocabulary_
    model.vocabulary_ = None
    try:
        tf, source = term_frequency(model)
    finally:
        model.vocabulary_ = vocabulary
    np.testing.assert_allclose(tf, lam.sum(axis=0) - K * eta, rtol=1e-6)
    assert "lambda" in source


def test_top_words_are_the_most_probable(model):
    beta = model.get_topics()
    tops = top_words(model, 4)
    for k in range(K):
        probs = [p for _, p in tops[k]]
        assert probs == sorted(probs, reverse=True)
        assert probs[0] == pytest.approx(beta[k].max())
        assert tops[k][0][0] == f"word{int(np.argmax(beta[k])):02d}"


def test_training_curve_from_history_then_bound_history_then_none(model):
    with_fit_statistics(model)
    curve = training_curve(model)
    assert curve.x_label == "documents seen" and curve.note is None
    np.testing.assert_array_equal(curve.x, model.history_["n_docs_seen"])
    assert curve.y_label == model.figure_label_
    growth = vocabulary_growth(model)
    np.testing.assert_array_equal(growth.y, model.history_["n_features"])
    clear_fit_statistics(model)
    curve = training_curve(model)
    assert "no per-step history" in curve.note
    np.testing.assert_array_equal(curve.y, model.bound_history_)
    assert vocabulary_growth(model) is None
    model.bound_history_ = []
    assert training_curve(model) is None


# -- example documents, streamed ------------------------------------------------------------
def corpus_theta(model, corpus) -> np.ndarray:
    """E[theta] of every document, each started from its own id's gamma (as in a fit)."""
    return np.vstack([model.transform(batch) for batch in corpus.iter_batches()])


def test_example_documents_streamed_equal_in_memory(model, corpus):
    n_docs = 4
    streamed = top_documents(model, corpus, n_docs=n_docs)
    theta = corpus_theta(model, corpus)
    ids = corpus.doc_ids()
    assert len(corpus.units) > 5  # the stream really merges across row groups
    for k in range(K):
        order = np.lexsort((ids, -theta[:, k]))[:n_docs]
        assert [ex.doc_id for ex in streamed[k]] == [int(i) for i in ids[order]]
        np.testing.assert_allclose([ex.share for ex in streamed[k]], theta[order, k],
                                   rtol=1e-12)
        for ex, row in zip(streamed[k], order, strict=True):
            assert ex.n_tokens == int(corpus.to_csr()[row].sum())


def text_corpus(tmp_path: Path) -> tuple[ParquetCorpus, OnlineLDA]:
    """A small ingested corpus keeping a title field, and a model fitted on it."""
    rows = ["title\ttext"]
    for i in range(40):
        words = ("apple banana cherry " if i % 2 else "rocket orbit planet ") * 3
        rows.append(f"Post number {i}\t{words}common word")
    src = tmp_path / "docs.tsv.gz"
    src.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    ingest(src, tmp_path / "c", keep_fields=["title"], row_group_size=8)
    corpus = ParquetCorpus(tmp_path / "c")
    return corpus, OnlineLDA(n_components=2, batch_size=8, max_iter=5, random_state=0).fit(corpus)


def test_example_documents_show_kept_text_fields(tmp_path):
    corpus, model = text_corpus(tmp_path)
    examples = top_documents(model, corpus, n_docs=2)
    for topic in examples:
        for ex in topic:
            assert ex.fields["title"].startswith("Post number ")
            assert ex.words and all(c >= 1 for _, c in ex.words)
    page = render_report(model, corpus)
    assert "Post number " in "".join(parse(page).text)


@pytest.mark.distributed
def test_example_documents_on_a_cluster_equal_local(model, corpus, tmp_path, dask_client):
    local = top_documents(model, corpus, n_docs=4)
    remote = top_documents(model, corpus, n_docs=4, client=dask_client)
    assert remote == local  # every document, share, word and count
    texts, text_model = text_corpus(tmp_path)
    local = top_documents(text_model, texts, n_docs=2)
    remote = top_documents(text_model, texts, n_docs=2, client=dask_client)
    assert remote == local
    assert all(ex.fields["title"].startswith("Post number ") for t in remote for ex in t)


def test_example_documents_refuse_another_vocabulary(model, tmp_path):
    other = from_csr(make_lda_corpus(20, V + 1, 2, seed=0).X, [f"x{j}" for j in range(V + 1)],
                     tmp_path / "other")
    with pytest.raises(ValueError, match="other"):
        top_documents(model, other)


# -- the page ------------------------------------------------------------------------------
def test_page_shows_every_topics_top_words_as_text_and_loads_nothing(model, corpus):
    with_fit_statistics(model)
    page = render_report(model, corpus, n_words=7)
    parsed = parse(page)
    assert parsed.external == []
    assert "cdn.bokeh.org" not in page
    tops = top_words(model, 7)
    for k in range(K):
        text = "".join(parsed.by_topic[f"topic-{k}"])
        for word, prob in tops[k]:
            assert word in text
            assert f"{prob:.4f}" in text
        assert "Example documents" in text
    visible = "".join(parsed.text)
    assert "documents seen" in visible or "Training" in visible
    assert "No training curve" not in visible
    assert "vocabulary size" in page  # the growth plot is there for a growing vocabulary


def test_page_says_what_is_missing(model):
    clear_fit_statistics(model)
    model.bound_history_ = []
    visible = "".join(parse(render_report(model)).text)
    assert "No training curve" in visible
    assert "No example documents" in visible
    assert "Vocabulary growth" not in visible


# -- pyLDAvis --------------------------------------------------------------------------------
def _pyldavis_prepare(data):
    import pyLDAvis

    return pyLDAvis.prepare(**data, sort_topics=False, n_jobs=1, R=10)


def test_pyldavis_from_kept_statistics_without_corpus(model):
    with_fit_statistics(model)
    data = to_pyldavis(model)
    assert set(data) == {"topic_term_dists", "doc_topic_dists", "doc_lengths", "vocab",
                         "term_frequency"}
    prepared = _pyldavis_prepare(data)
    freq = prepared.topic_coordinates.sort_values("topics")["Freq"].to_numpy()
    expected = 100 * model_counts(data)
    np.testing.assert_allclose(freq, expected, rtol=1e-9)
    assert prepared.topic_info["Term"].isin(data["vocab"]).all()


def model_counts(data) -> np.ndarray:
    counts = data["doc_lengths"] @ data["doc_topic_dists"]
    return counts / counts.sum()


def test_pyldavis_topic_frequencies_equal_the_models(model):
    with_fit_statistics(model)
    expected = model.topic_token_counts_ / model.topic_token_counts_.sum()
    prepared = _pyldavis_prepare(to_pyldavis(model))
    freq = prepared.topic_coordinates.sort_values("topics")["Freq"].to_numpy() / 100
    np.testing.assert_allclose(freq, expected, rtol=1e-9)
    clear_fit_statistics(model)
    # Without kept counts: lambda's expected counts, the sizes the report shows.
    sizes, _ = topic_sizes(model)
    prepared = _pyldavis_prepare(to_pyldavis(model))
    freq = prepared.topic_coordinates.sort_values("topics")["Freq"].to_numpy() / 100
    np.testing.assert_allclose(freq, sizes / sizes.sum(), rtol=1e-9)


def test_pyldavis_and_report_from_a_real_fits_statistics(fitted):
    """The statistics the run loop keeps: pyLDAvis's topic sizes are the fit's tokens."""
    counts = fitted.topic_token_counts_
    assert counts.shape == (K,) and counts.sum() > 0
    prepared = _pyldavis_prepare(to_pyldavis(fitted))
    freq = prepared.topic_coordinates.sort_values("topics")["Freq"].to_numpy() / 100
    np.testing.assert_allclose(freq, counts / counts.sum(), rtol=1e-9)
    np.testing.assert_array_equal(to_pyldavis(fitted)["term_frequency"],
                                  fitted.term_frequency_)
    curve = training_curve(fitted)
    assert curve.x_label == "documents seen" and curve.y_label == fitted.figure_label_
    np.testing.assert_array_equal(curve.x, fitted.history_["n_docs_seen"])
    visible = "".join(parse(render_report(fitted)).text)
    assert f"{100 * counts[0] / counts.sum():.1f}% of tokens" in visible
    assert "documents" in visible and f"{fitted.topic_doc_counts_[0]:,.0f} documents" in visible


def test_pyldavis_with_the_corpus_uses_real_documents(model, corpus):
    data = to_pyldavis(model, corpus)
    X = corpus.to_csr()
    assert data["doc_topic_dists"].shape == (corpus.n_docs, K)
    np.testing.assert_allclose(data["doc_topic_dists"], corpus_theta(model, corpus),
                               rtol=1e-12)
    np.testing.assert_array_equal(data["doc_lengths"], np.asarray(X.sum(axis=1)).ravel())
    np.testing.assert_array_equal(data["term_frequency"], np.asarray(X.sum(axis=0)).ravel())
    _pyldavis_prepare(data)


# -- command line and errors -----------------------------------------------------------------
def test_cli_writes_the_report(model, corpus, tmp_path, capsys):
    with_fit_statistics(model)
    model.save(tmp_path / "model")
    out = tmp_path / "sub" / "report.html"
    code = cli_main(["report", str(tmp_path / "model"), "--corpus", str(corpus.path),
                     "--out", str(out), "--top-words", "5"])
    assert code == 0
    assert "report written to" in capsys.readouterr().out
    parsed = parse(out.read_text())
    for k, words in enumerate(top_words(model, 5)):
        assert all(w in "".join(parsed.by_topic[f"topic-{k}"]) for w, _ in words)


@pytest.mark.distributed
def test_cli_report_on_a_cluster_shows_the_local_examples(model, corpus, tmp_path, capsys,
                                                          dask_client):
    model.save(tmp_path / "model")
    pages = {}
    for where, extra in (("local", []),
                         ("cluster", ["--scheduler", dask_client.scheduler.address])):
        out = tmp_path / f"{where}.html"
        assert cli_main(["report", str(tmp_path / "model"), "--corpus", str(corpus.path),
                         "--out", str(out), "--docs", "2", *extra]) == 0
        pages[where] = parse(out.read_text()).by_topic
    assert pages["cluster"] == pages["local"]
    examples = top_documents(model, corpus, n_docs=2)
    for k in range(K):  # the examples are on the page (by their best words)
        text = "".join(pages["cluster"][f"topic-{k}"])
        assert all(w in text for ex in examples[k] for w, _ in ex.words)
    capsys.readouterr()
    assert cli_main(["report", str(tmp_path / "model"), "--out", str(tmp_path / "x.html"),
                     "--scheduler", dask_client.scheduler.address]) == 2
    assert "--corpus" in capsys.readouterr().err


def test_cli_errors_are_one_line(model, tmp_path, capsys):
    assert cli_main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert "svi-lda report: error:" in err and "missing" in err and "\n" not in err
    model.save(tmp_path / "m")
    other = from_csr(make_lda_corpus(20, V + 1, 2, seed=0).X, [f"x{j}" for j in range(V + 1)],
                     tmp_path / "other")
    code = cli_main(["report", str(tmp_path / "m"), "--corpus", str(other.path),
                     "--out", str(tmp_path / "r.html")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert str(other.path) in err and "\n" not in err
    assert not (tmp_path / "r.html").exists()


def test_write_report_accepts_a_model_folder(model, tmp_path):
    model.save(tmp_path / "m")
    out = write_report(tmp_path / "m", tmp_path / "r.html")
    assert out.stat().st_size > 100_000  # bokeh's JavaScript is inlined


def test_without_bokeh_the_error_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['bokeh'] = None\n"  # makes 'import bokeh...' fail
        "import numpy as np\n"
        "from svi_lda import OnlineLDA\n"
        "from svi_lda.report import write_report, to_pyldavis\n"
        "m = OnlineLDA(n_components=2, random_state=0).fit(np.eye(4) * 3)\n"
        "to_pyldavis(m)  # the export needs no bokeh\n"
        "try:\n"
        f"    write_report(m, {str(tmp_path / 'r.html')!r})\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert "pip install 'svi-lda[report]'" in out.stdout


@pytest.mark.parametrize("method", ["online", "batch", "cvb0"])
@pytest.mark.parametrize("n_topics", [1, 3])
def test_report_for_every_learning_method(method, n_topics):
    X = make_lda_corpus(60, 20, 3, doc_length=30, seed=1).X
    model = OnlineLDA(n_components=n_topics, learning_method=method, max_iter=2,
                      random_state=0).fit(X)
    parsed = parse(render_report(model, n_words=3))
    assert len(parsed.by_topic) == n_topics
    for k, words in enumerate(top_words(model, 3)):
        assert all(w in "".join(parsed.by_topic[f"topic-{k}"]) for w, _ in words)
    curve = training_curve(model)
    assert curve is not None and len(curve.y) == len(model.history_["figure"])
    assert curve.y_label == model.figure_label_
    assert model.figure_label_ in "".join(parsed.text)


def test_words_are_escaped(model):
    words = [f"word{j:02d}" for j in range(V)]
    top = int(np.argmax(model.get_topics()[0]))
    words[top] = "<script>alert('x')</script>"
    model.vocabulary_ = words
    page = render_report(model)
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>alert('x')</script>" in "".join(parse(page).by_topic["topic-0"])
