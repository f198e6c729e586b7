"""Each kind of input is recognised or refused clearly, never misread as another.

gensim corpora (MmCorpus, any iterable of bag-of-words documents, one document), pandas
DataFrames of counts or of text, and the failure modes of issue 14.
"""

from __future__ import annotations

import numpy as np
import pytest

from svi_lda import OnlineLDA
from svi_lda.synthetic import make_lda_corpus

K, V = 4, 60


@pytest.fixture(scope="module")
def X():
    return make_lda_corpus(120, V, K, doc_length=25, alpha=0.3, eta=0.1, seed=2).X.tocsr()


def _bow(X):
    return [list(zip(r.indices.tolist(), r.data.tolist(), strict=True)) for r in X]


def _model(**kw):
    return OnlineLDA(K, max_iter=2, batch_size=40, random_state=0, n_jobs=1, **kw)


@pytest.fixture(scope="module")
def reference(X):
    return _model().fit(X)


@pytest.fixture(scope="module")
def dictionary():
    gensim = pytest.importorskip("gensim")
    words = [[f"w{i:03d}" for i in range(V)]]
    d = gensim.corpora.Dictionary(words)
    assert len(d) == V and [d.token2id[f"w{i:03d}"] for i in range(V)] == list(range(V))
    return d


# -- gensim -------------------------------------------------------------------------------
def test_mmcorpus_fits_and_transforms_as_the_matrix(tmp_path, X, reference):
    gensim = pytest.importorskip("gensim")
    path = str(tmp_path / "corpus.mm")
    gensim.corpora.MmCorpus.serialize(path, _bow(X))
    corpus = gensim.corpora.MmCorpus(path)
    # The issue: each document was taken as a minibatch, n_features_in_ came out as 2.
    model = _model().fit(corpus)
    assert model.n_features_in_ == V  # from the corpus's num_terms
    np.testing.assert_array_equal(model.components_, reference.components_)
    np.testing.assert_array_equal(model.transform(corpus), reference.transform(X))
    step = OnlineLDA(K, random_state=0, n_jobs=1).partial_fit(corpus)
    twin = OnlineLDA(K, random_state=0, n_jobs=1).partial_fit(X)
    assert step.n_batch_iter_ == 1  # the whole corpus is one minibatch, not 120
    np.testing.assert_array_equal(step.components_, twin.components_)


def test_generator_of_documents_with_a_dictionary(X, reference, dictionary):
    model = _model().fit((doc for doc in _bow(X)), id2word=dictionary)
    assert model.n_features_in_ == V and model.vocabulary_ == [f"w{i:03d}" for i in range(V)]
    np.testing.assert_array_equal(model.components_, reference.components_)
    np.testing.assert_array_equal(
        reference.transform(doc for doc in _bow(X)), reference.transform(X)
    )
    theta = _model().fit_transform((doc for doc in _bow(X)), id2word=dictionary)
    np.testing.assert_array_equal(theta, reference.transform(X))


def test_list_of_documents_takes_its_size_from_id2word_not_the_largest_id(X, dictionary):
    small = X[:, : V - 10]  # the last ten words never occur
    docs = _bow(small)
    model = _model().fit(docs, id2word=dictionary)
    assert model.n_features_in_ == V
    model.transform([[(V - 1, 1.0)]])  # a word of the dictionary seen in no document
    with pytest.raises(ValueError, match="id2word"):
        _model().fit(docs)  # without the vocabulary size: refused, not guessed
    with pytest.raises(ValueError, match="id2word"):
        OnlineLDA(K).partial_fit(docs)
    OnlineLDA(K, n_jobs=1).partial_fit(docs, id2word=dictionary)


def test_single_document_is_one_row_not_an_n_by_2_matrix(X, reference):
    doc = _bow(X[3:4])[0]
    theta = reference.transform(doc)
    assert theta.shape == (1, K)
    np.testing.assert_array_equal(theta, reference.transform(X[3:4]))
    model = OnlineLDA(K, n_jobs=1).partial_fit(X[:5]).partial_fit(doc)
    assert model.n_batch_iter_ == 2 and model.state_.n_docs_seen == 6


def test_bag_of_words_errors_name_the_document(reference):
    with pytest.raises(ValueError, match=r"document 1 has word id 60, outside"):
        reference.transform([[(0, 1.0)], [(60, 1.0)]])
    with pytest.raises(ValueError, match=r"document 1 is not a list of \(word_id, count\)"):
        reference.transform(iter([[(0, 1.0)], [(1, "a")]]))
    with pytest.raises(ValueError, match="empty"):
        reference.transform(iter([]))
    with pytest.raises(ValueError, match="id2word has 5 ids but the model was fitted with 60"):
        reference.partial_fit([[(0, 1.0)]], id2word={i: str(i) for i in range(5)})


# -- pandas -------------------------------------------------------------------------------
def test_dataframe_of_counts_is_a_matrix_with_feature_names(X, reference):
    pd = pytest.importorskip("pandas")
    words = [f"w{i:03d}" for i in range(V)]
    frame = pd.DataFrame(X.toarray(), columns=words)
    # The issue: a DataFrame was taken as a stream of minibatches (its column labels).
    model = _model().fit(frame)
    np.testing.assert_array_equal(model.components_, reference.components_)
    assert list(model.feature_names_in_) == words and model.vocabulary_ == words
    np.testing.assert_array_equal(model.transform(frame), reference.transform(X))
    with pytest.raises(ValueError, match="feature names should match"):
        model.transform(frame.rename(columns={"w000": "other"}))
    sparse_frame = pd.DataFrame.sparse.from_spmatrix(X, columns=words)
    np.testing.assert_array_equal(model.transform(sparse_frame), reference.transform(X))


def test_dataframe_of_text_is_refused_with_what_to_do():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"label": [1, 2], "body": ["some text", "more text"]})
    for call in (lambda: OnlineLDA(2).fit(frame), lambda: OnlineLDA(2).partial_fit(frame)):
        with pytest.raises(ValueError, match=r"non-numeric column 'body'.*CountVectorizer"):
            call()


# -- the other failure modes of the issue --------------------------------------------------
@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        (np.ones((4, 3)) + 1j, ValueError, "Complex data not supported"),
        (np.array([[1.0, {"a": 1}]], dtype=object), TypeError, "argument must be"),
        (np.empty((12, 0)), ValueError, r"0 feature\(s\) \(shape=\(12, 0\)\)"),
        (-np.ones((3, 3)), ValueError, "Negative values in data"),
        (np.ones(5), ValueError, "Reshape your data"),
    ],
)
def test_bad_matrices_are_refused_as_scikit_learn_does(data, error, message):
    with pytest.raises(error, match=message):
        OnlineLDA(2, n_jobs=1).fit(data)


def test_transform_of_one_flat_row_asks_for_a_reshape(reference):
    with pytest.raises(ValueError, match="Reshape your data"):
        reference.transform(np.ones(V))


def test_stream_of_chunks_of_documents_is_a_stream_of_minibatches(X, dictionary):
    docs = _bow(X)
    chunks = [docs[i : i + 40] for i in range(0, 120, 40)]
    model = _model(total_samples=120).fit(iter(chunks), id2word=dictionary)
    twin = _model(total_samples=120).fit(iter([X[:40], X[40:80], X[80:]]))
    assert model.n_batch_iter_ == 3 and model.n_features_in_ == V
    np.testing.assert_array_equal(model.components_, twin.components_)
    with pytest.raises(ValueError, match="id2word"):
        _model(total_samples=120).fit(iter(chunks))
