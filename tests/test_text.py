"""Tokenizer and Vocabulary: the fast Arrow/Numba path equals the plain-Python definition."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svi_lda.text import ENGLISH_STOP_WORDS, Tokenizer, Vocabulary, WordCounts, select_words

ALPHABET = st.sampled_from(
    list("abcXYZ019_ .,;:!?'\"-\t\n\r/")
    + list("éÉüßñçøåæœ")
    + list("αβΓΔ")
    + ["中", "文", "😀", "\u00a0", "²"]
)


def reference_tokens(text: str, pattern=r"(?u)\b\w\w+\b", min_len=2, stop=frozenset()):
    return [t for t in re.findall(pattern, text.lower()) if len(t) >= min_len and t not in stop]


def arrow_tokens(tok: Tokenizer, texts: list[str]) -> list[list[str]]:
    t = tok.tokenize_arrow(texts)
    flat = t.as_arrow().to_pylist()
    return [flat[t.doc_offsets[d] : t.doc_offsets[d + 1]] for d in range(t.n_docs)]


def test_tokenize_matches_reference():
    tok = Tokenizer(stop_words="english")
    text = "The Cat sat on 2 mats! naïve café_au ÉCOLE x 42 it's"
    assert tok.tokenize(text) == reference_tokens(text, stop=ENGLISH_STOP_WORDS)
    assert tok.tokenize(text) == ["cat", "sat", "mats", "naïve", "café_au", "école", "42"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(ALPHABET, max_size=40), max_size=6), st.integers(1, 4))
def test_arrow_path_equals_python_path(texts, min_length):
    for pattern in (r"(?u)\b\w\w+\b", r"\w+", r"\b\w{3,}\b"):
        tok = Tokenizer(token_pattern=pattern, min_length=min_length, stop_words=["ab", "été"])
        assert arrow_tokens(tok, texts) == [tok.tokenize(x) for x in texts]


def test_generic_regex_pattern_falls_back_to_re():
    tok = Tokenizer(token_pattern=r"[a-z]+'[a-z]+|[a-z]{3,}", min_length=1)
    texts = ["don't stop believin'", "", "a bb ccc"]
    assert arrow_tokens(tok, texts) == [tok.tokenize(x) for x in texts]
    assert tok.tokenize("don't stop") == ["don't", "stop"]


def test_nulls_and_empty_documents():
    tok = Tokenizer()
    t = tok.tokenize_arrow(["", None, "hello world", "   "])
    assert t.n_docs == 4
    assert list(np.diff(t.doc_offsets)) == [0, 0, 2, 0]


def test_tokenizer_settings_round_trip_and_validation():
    tok = Tokenizer(
        lowercase=False,
        token_pattern=r"\w+",
        min_length=3,
        max_length=9,
        stop_words=["b", "a", "a"],
    )
    assert tok.stop_words == ("a", "b")
    assert Tokenizer.from_dict(tok.to_dict()) == tok
    assert Tokenizer.from_dict(Tokenizer(stop_words="english").to_dict()).stop_words == "english"
    with pytest.raises(ValueError, match="token_pattern"):
        Tokenizer(token_pattern="(")
    with pytest.raises(ValueError, match="min_length"):
        Tokenizer(min_length=0)
    with pytest.raises(ValueError, match="stop_words"):
        Tokenizer(stop_words="french")
    with pytest.raises(ValueError, match="unknown"):
        Tokenizer.from_dict({"lowercase": True, "bogus": 1})


def test_max_length():
    tok = Tokenizer(max_length=4)
    assert tok.tokenize("ab abcd abcde") == ["ab", "abcd"]
    assert arrow_tokens(tok, ["ab abcd abcde"]) == [["ab", "abcd"]]


def test_english_stop_words_match_scikit_learn():
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS as SK

    assert set(SK) == set(ENGLISH_STOP_WORDS)


def test_vocabulary_save_load_round_trip(tmp_path):
    tok = Tokenizer(stop_words="english")
    v = Vocabulary(["apple", "banana", "été"], [3, 2, 1], [5, 2, 1], tokenizer=tok)
    path = tmp_path / "vocab.parquet"
    v.save(path)
    assert path.read_bytes()[:4] == b"PAR1"  # Parquet, not pickle
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.parquet"]  # no temp file left
    w = Vocabulary.load(path)
    assert w == v and w.tokenizer == tok and w.words == ["apple", "banana", "été"]
    assert w.sha256 == v.sha256 and len(w.sha256) == 64
    assert w.id_of("banana") == 1 and w.get("cherry") is None and "été" in w
    t = pq.read_table(path)
    assert t.schema.names == ["id", "word", "df", "cf"]


def test_vocabulary_hash_depends_on_words_and_order_only():
    a = Vocabulary(["a", "b"], [1, 1], [1, 1])
    assert a.sha256 == Vocabulary(["a", "b"], [5, 5], [9, 9], tokenizer=Tokenizer()).sha256
    assert a.sha256 != Vocabulary(["b", "a"]).sha256
    assert a.sha256 != Vocabulary(["ab"]).sha256
    assert Vocabulary(["ab", "c"]).sha256 != Vocabulary(["a", "bc"]).sha256


def test_vocabulary_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unique"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="shape"):
        Vocabulary(["a"], [1, 2])
    with pytest.raises(ValueError, match="non-negative"):
        Vocabulary(["a"], [-1])
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="bad.parquet"):
        Vocabulary.load(bad)
    with pytest.raises(ValueError, match="no tokenizer"):
        Vocabulary(["a"]).encode(["a"])


def test_encode_equals_reference_counter():
    tok = Tokenizer(stop_words=["the"])
    words = sorted(["cat", "mat", "sat", "the", "dog"])
    v = Vocabulary(words, tokenizer=tok)
    texts = ["The cat sat on the mat, cat!", "", "zebra only", "dog DOG dog"]
    b = v.encode(texts, first_doc_id=10)
    assert list(b.doc_ids) == [10, 11, 12, 13]
    X = b.to_csr().toarray()
    for d, text in enumerate(texts):
        c = Counter(w for w in tok.tokenize(text) if w in v)
        expected = np.zeros(len(words))
        for w, n in c.items():
            expected[v.id_of(w)] = n
        np.testing.assert_array_equal(X[d], expected)
    assert X[0, v.id_of("the")] == 0  # stop word in the vocabulary is still dropped


def test_word_counts_merge_is_exact_and_order_free():
    tok = Tokenizer()
    docs = ["a bb cc bb", "cc dd", "bb", "ee ee ee"]
    parts = [WordCounts.from_tokens(tok.tokenize_arrow(docs[i : i + 1])) for i in range(4)]
    whole = WordCounts.from_tokens(tok.tokenize_arrow(docs))
    m1 = WordCounts.merge(parts)
    m2 = WordCounts.merge([WordCounts.merge(parts[2:]), WordCounts.merge(parts[:2])])
    m3 = WordCounts.merge([whole])
    for m in (m2, m3):
        assert m.words.to_pylist() == m1.words.to_pylist()
        np.testing.assert_array_equal(m.df, m1.df)
        np.testing.assert_array_equal(m.cf, m1.cf)
    assert m1.words.to_pylist() == ["bb", "cc", "dd", "ee"]
    assert list(m1.df) == [2, 2, 1, 1] and list(m1.cf) == [3, 2, 1, 3] and m1.n_docs == 4


def test_pruning_matches_scikit_learn():
    from sklearn.feature_extraction.text import CountVectorizer

    from svi_lda.datasets import load_newsgroups_sample

    texts, _ = load_newsgroups_sample()
    texts = texts[:600]
    tok = Tokenizer(stop_words="english")
    counts = WordCounts.merge(
        [WordCounts.from_tokens(tok.tokenize_arrow(texts), tok.stop_word_set)]
    )
    for kw in ({"min_df": 3, "max_df": 0.5}, {"min_df": 0.01}):
        cv = CountVectorizer(stop_words="english", **kw).fit(texts)
        sel = select_words(counts, **kw)
        ours = counts.words.take(sel).to_pylist()
        assert ours == list(cv.get_feature_names_out()), kw
    # max_features: scikit-learn breaks ties at the cut arbitrarily (unstable argsort), we
    # break them by word; everything strictly above the cut must agree.
    cv = CountVectorizer(stop_words="english", max_features=500).fit(texts)
    sel = select_words(counts, max_features=500)
    assert len(sel) == 500 and list(sel) == sorted(sel)
    cut = counts.cf[sel].min()
    cf = dict(zip(counts.words.to_pylist(), counts.cf, strict=True))
    theirs = set(cv.get_feature_names_out())
    ours = set(counts.words.take(sel).to_pylist())
    assert {w for w in ours if cf[w] > cut} == {w for w in theirs if cf[w] > cut}
    assert {cf[w] for w in theirs} >= {cut} and min(cf[w] for w in theirs) == cut


def test_keep_and_drop_lists():
    tok = Tokenizer()
    counts = WordCounts.from_tokens(tok.tokenize_arrow(["aa bb cc", "aa bb", "aa"]))
    v = Vocabulary.from_counts(counts, tok, min_df=2, keep=["cc", "zz"], drop=["aa"])
    assert v.words == ["bb", "cc"]
    v = Vocabulary.from_counts(counts, tok, max_features=1, keep=["cc"])
    assert v.words == ["cc"]
    with pytest.raises(ValueError, match="proportion"):
        Vocabulary.from_counts(counts, tok, max_df=1.5)


# -- RE2: every pattern runs in linear time, and agrees with Python where both apply --------
GENERIC = (r"[a-z]+'[a-z]+|[a-z]{3,}", r"\w+'\w+|\w{3,}", r"(?u)\d+|[^\s\d_.,;:!?]{2,}", r"(\w+)-x")


TOKENIZERS = {(p, n): Tokenizer(token_pattern=p, min_length=n) for p in GENERIC for n in (1, 3)}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(ALPHABET, max_size=40), max_size=6), st.sampled_from([1, 3]))
def test_generic_patterns_match_python_re(texts, min_length):
    for pattern in GENERIC:
        tok = TOKENIZERS[pattern, min_length]
        expected = [
            [t for t in re.findall(pattern, x.lower()) if len(t) >= min_length] for x in texts
        ]
        assert arrow_tokens(tok, texts) == expected, pattern


def test_catastrophic_pattern_runs_in_linear_time():
    import time

    tok = Tokenizer(token_pattern=r"(a+)+$", min_length=1)
    assert tok.tokenize("xaaaa") == ["aaaa"]  # the group, as re.findall gives
    assert re.findall(r"(a+)+$", "xaaaa") == ["aaaa"]
    started = time.perf_counter()
    assert tok.tokenize("a" * 5000 + "!") == []  # Python's re: about 2**5000 steps
    assert time.perf_counter() - started < 2.0


def test_patterns_re2_cannot_run_are_refused_clearly():
    for pattern in (r"(a)\1", r"a(?=b)", r"(?<=a)b"):
        with pytest.raises(ValueError, match="token_pattern .* RE2"):
            Tokenizer(token_pattern=pattern)
    with pytest.raises(ValueError, match="capturing groups"):
        Tokenizer(token_pattern=r"(a)(b)")


def test_texts_holding_the_marker_characters_tokenize_correctly():
    tok = Tokenizer(token_pattern=r"[a-z]+", min_length=1)
    text = "ab\ufdd0\ufdd1cd \ufdd0\ufdd1\ufdd1 ef"
    assert tok.tokenize(text) == re.findall(r"[a-z]+", text) == ["ab", "cd", "ef"]
