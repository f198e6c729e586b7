"""Conversions from scipy, scikit-learn, gensim and UCI files give the same matrix."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.sparse as sp

from svi_lda.corpus import ParquetCorpus, from_csr, from_gensim, from_sklearn, from_uci, ingest
from svi_lda.datasets import load_newsgroups_sample, newsgroups_sample_path
from svi_lda.text import Tokenizer


@pytest.fixture(scope="module")
def sample():
    texts, _ = load_newsgroups_sample()
    return texts[:400]


def test_sklearn_conversion_equals_ingest(tmp_path, sample):
    from sklearn.feature_extraction.text import CountVectorizer

    cv = CountVectorizer(stop_words="english", min_df=2)
    Y = cv.fit_transform(sample)
    c = from_sklearn(cv, Y, tmp_path / "sk", row_group_size=64)
    assert (c.to_csr() != Y).nnz == 0
    assert c.vocabulary.words == list(cv.get_feature_names_out())
    np.testing.assert_array_equal(
        c.vocabulary.document_frequency, np.asarray((Y > 0).sum(axis=0)).ravel()
    )
    # The stored tokenizer encodes raw text exactly like the vectorizer.
    assert (c.vocabulary.encode(sample[:50]).to_csr() != cv.transform(sample[:50])).nnz == 0
    # Ingest of the same texts with the same settings: same vocabulary and counts.
    src = tmp_path / "s.tsv"
    src.write_text("text\n" + "\n".join(sample) + "\n")
    ingest(
        src, tmp_path / "ing", tokenizer=Tokenizer(stop_words="english"), min_df=2, keep_empty=True
    )
    ing = ParquetCorpus(tmp_path / "ing")
    assert ing.vocabulary.words == c.vocabulary.words
    assert (ing.to_csr() != Y).nnz == 0


def test_gensim_conversion(tmp_path, sample):
    from gensim.corpora import Dictionary

    tok = Tokenizer()
    docs = [tok.tokenize(t) for t in sample]
    d = Dictionary(docs)
    d.filter_extremes(no_below=2, no_above=1.0, keep_n=None)
    bow = (d.doc2bow(x) for x in docs)  # a generator: streamed once
    c = from_gensim(d, bow, tmp_path / "g", row_group_size=50)
    X = c.to_csr()
    assert X.shape == (400, len(d))
    for i in (0, 7, 399):
        assert dict(zip(X[i].indices, X[i].data, strict=True)) == dict(d.doc2bow(docs[i]))
    assert c.vocabulary.words == [d[i] for i in range(len(d))]


def test_uci_conversion(tmp_path):
    X = sp.csr_matrix(np.array([[1, 0, 2], [0, 0, 0], [3, 1, 0], [0, 0, 0]]))
    words = ["apple", "banana", "cherry"]
    coo = X.tocoo()
    lines = [f"{X.shape[0]}", f"{X.shape[1]}", f"{X.nnz}"]
    lines += [f"{r + 1} {c + 1} {v}" for r, c, v in zip(coo.row, coo.col, coo.data, strict=True)]
    with gzip.open(tmp_path / "docword.test.txt.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    (tmp_path / "vocab.test.txt").write_text("\n".join(words) + "\n")
    c = from_uci(
        tmp_path / "docword.test.txt.gz",
        tmp_path / "vocab.test.txt",
        tmp_path / "u",
        row_group_size=2,
    )
    assert (c.to_csr() != X).nnz == 0 and c.n_docs == 4
    assert c.vocabulary.words == words
    np.testing.assert_array_equal(c.doc_ids(), [0, 1, 2, 3])
    # Same matrix through from_csr.
    d = from_csr(X, words, tmp_path / "csr", row_group_size=2)
    assert (d.to_csr() != c.to_csr()).nnz == 0 and d.vocabulary == c.vocabulary
    # Unsorted docword lines are refused with the position.
    (tmp_path / "bad.txt").write_text("4\n3\n2\n3 1 1\n1 1 1\n")
    with pytest.raises(ValueError, match="sorted by docID"):
        from_uci(tmp_path / "bad.txt", tmp_path / "vocab.test.txt", tmp_path / "bad")


def test_bad_counts_are_refused(tmp_path):
    words = ["a", "b"]
    with pytest.raises(ValueError, match="whole numbers"):
        from_csr(sp.csr_matrix([[0.5, 1.0]]), words, tmp_path / "x")
    with pytest.raises(ValueError, match="non-negative"):
        from_csr(sp.csr_matrix([[-1, 1]]), words, tmp_path / "y")
    with pytest.raises(ValueError, match="columns"):
        from_csr(sp.csr_matrix([[1, 1, 1]]), words, tmp_path / "z")

    class FakeDict:
        token2id = {"a": 0, "b": 1}

        def __len__(self):
            return 2

    with pytest.raises(ValueError, match="whole numbers"):
        from_gensim(FakeDict(), [[(0, 0.25)]], tmp_path / "g")


def test_from_csr_dense_and_custom_ids(tmp_path):
    X = np.array([[1, 0], [0, 2], [3, 3]])
    c = from_csr(X, ["x", "y"], tmp_path / "c", doc_ids=[10, 20, 30])
    np.testing.assert_array_equal(c.doc_ids(), [10, 20, 30])
    np.testing.assert_array_equal(c.to_csr().toarray(), X)


def test_bundled_sample():
    texts, labels = load_newsgroups_sample()
    assert len(texts) == 3000 and len(set(labels)) == 20
    assert newsgroups_sample_path().name == "newsgroups_sample.tsv.gz"
