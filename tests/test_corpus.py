"""Corpus reader: validation on open, zero-copy units, minibatch plans, corrupt folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from svi_lda.batch import concat_batches
from svi_lda.corpus import (
    CorpusError,
    CorpusUnit,
    ParquetCorpus,
    from_csr,
    plan_minibatches,
    read_unit,
)
from svi_lda.corpus.format import part_schema


def random_counts(n_docs=50, n_words=40, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n_docs, n_words, density=0.2, random_state=seed, format="csr")
    X.data = rng.integers(1, 9, size=X.nnz).astype(np.float64)
    keep = np.ones(n_docs)
    keep[3] = 0  # an empty document
    X = sp.diags(keep) @ X
    X.eliminate_zeros()
    return sp.csr_matrix(X)


@pytest.fixture
def corpus(tmp_path):
    X = random_counts()
    return from_csr(
        X, [f"w{j:02d}" for j in range(X.shape[1])], tmp_path / "c", row_group_size=8
    ), X


def test_units_and_zero_copy_reads(corpus):
    c, X = corpus
    assert [u.n_docs for u in c.units] == [8] * 6 + [2]
    assert c.units[3].key == "part-00000.parquet#3"
    b = read_unit(c.path, c.units[2])
    assert not b.indices.flags.writeable and not b.counts.flags.writeable  # Arrow views
    table = pq.ParquetFile(c.path / c.units[2].file).read_row_group(2)
    # Same values buffer address as Arrow's would be impossible to compare across reads;
    # instead check the numpy arrays do not own their memory (they view Arrow buffers).
    assert not b.indices.flags.owndata and not b.counts.flags.owndata and table.num_rows == 8
    assert b.indices.dtype == np.int32 and b.n_features == 40
    np.testing.assert_array_equal(b.doc_ids, np.arange(16, 24))
    np.testing.assert_array_equal(b.to_csr().toarray(), X[16:24].toarray())
    whole = concat_batches([c.read_unit(u) for u in c.units])
    assert (whole.to_csr() != X).nnz == 0
    assert c.n_docs == 50 and c.n_tokens == X.sum() and c.n_features == 40


def test_plan_minibatches_is_deterministic_and_whole_units():
    units = [CorpusUnit("part-00000.parquet", i, n) for i, n in enumerate([5, 5, 5, 3, 7, 1])]
    plan = plan_minibatches(units, 10)
    assert [[u.row_group for u in g] for g in plan] == [[0, 1], [2, 3, 4], [5]]
    a = plan_minibatches(units, 6, seed=3, epoch=1)
    assert a == plan_minibatches(units, 6, seed=3, epoch=1)
    order = np.random.default_rng([3, 1]).permutation(6)
    assert [u for g in a for u in g] == [units[i] for i in order]
    assert a != plan_minibatches(units, 6, seed=3, epoch=2)
    assert all(sum(u.n_docs for u in g) >= 6 for g in a[:-1])
    with pytest.raises(ValueError):
        plan_minibatches(units, 0)


def _copy(c, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(c.path, dst)
    return dst


def test_missing_or_wrong_manifest_is_refused(corpus, tmp_path):
    c, _ = corpus
    d = _copy(c, tmp_path, "a")
    (d / "manifest.json").unlink()
    with pytest.raises(CorpusError, match="manifest.json is missing"):
        ParquetCorpus(d)
    d = _copy(c, tmp_path, "b")
    m = json.loads((d / "manifest.json").read_text())
    m["format_version"] = 99
    (d / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(CorpusError, match="format_version 99"):
        ParquetCorpus(d)
    with pytest.raises(CorpusError, match="does not exist"):
        ParquetCorpus(tmp_path / "nowhere")


def test_vocabulary_missing_or_swapped_is_refused(corpus, tmp_path):
    c, X = corpus
    d = _copy(c, tmp_path, "a")
    (d / "vocabulary.parquet").unlink()
    with pytest.raises(CorpusError, match="vocabulary.parquet is missing"):
        ParquetCorpus(d)
    other = from_csr(X, [f"x{j}" for j in range(40)], tmp_path / "other")
    d = _copy(c, tmp_path, "b")
    shutil.copy(other.path / "vocabulary.parquet", d / "vocabulary.parquet")
    with pytest.raises(CorpusError, match="does not match .*manifest.json"):
        ParquetCorpus(d)


def test_part_files_missing_or_changed_are_refused(corpus, tmp_path):
    c, X = corpus
    d = _copy(c, tmp_path, "a")
    (d / "part-00000.parquet").unlink()
    with pytest.raises(CorpusError, match="part-00000.parquet listed in the manifest is missing"):
        ParquetCorpus(d)
    d = _copy(c, tmp_path, "b")
    t = pq.read_table(d / "part-00000.parquet")
    pq.write_table(t, d / "part-00000.parquet", row_group_size=10)
    with pytest.raises(CorpusError, match="row groups|was replaced"):
        ParquetCorpus(d)


def _bad_part(tmp_path, token_ids, counts=None, n_features=40):
    path = tmp_path / "part-00000.parquet"
    schema = part_schema(n_features, "x")
    counts = counts if counts is not None else [[1] * len(r) for r in token_ids]
    t = pa.table(
        {
            "doc_id": pa.array(range(len(token_ids)), pa.int64()),
            "token_ids": pa.array(token_ids, schema.field("token_ids").type),
            "counts": pa.array(counts, schema.field("counts").type),
        },
        schema=schema,
    )
    pq.write_table(t, path)
    return CorpusUnit("part-00000.parquet", 0, len(token_ids))


def test_read_unit_checks_values_and_names_file_and_row_group(tmp_path):
    u = _bad_part(tmp_path, [[1, 2], [3, 40]])
    with pytest.raises(CorpusError, match=r"row group 0 of .*part-00000.parquet.*\[0, 40\)"):
        read_unit(tmp_path, u)
    u = _bad_part(tmp_path, [[1, 2], [5, 3]])
    with pytest.raises(CorpusError, match="row 1 must be sorted"):
        read_unit(tmp_path, u)
    u = _bad_part(tmp_path, [[1, 2], [3]], counts=[[1, 0], [2]])
    with pytest.raises(CorpusError, match="counts must be positive"):
        read_unit(tmp_path, u)
    u = _bad_part(tmp_path, [[5], [1, 2]])  # descending across rows is fine
    assert read_unit(tmp_path, u).to_csr().nnz == 3
    with pytest.raises(CorpusError, match="manifest says 7"):
        read_unit(tmp_path, CorpusUnit("part-00000.parquet", 0, 7))
    pq.write_table(
        pa.table(
            {
                "doc_id": pa.array([0], pa.int64()),
                "token_ids": pa.array([[1]], pa.list_(pa.int64())),
                "counts": pa.array([[1]], pa.list_(pa.int32())),
            }
        ),
        tmp_path / "part-00001.parquet",
    )
    with pytest.raises(CorpusError, match="must be list<int32>"):
        read_unit(tmp_path, CorpusUnit("part-00001.parquet", 0, 1), n_features=5)


# -- fuzzing: a flipped byte or a truncation anywhere gives CorpusError or the right data ------
@pytest.fixture(scope="module")
def pristine_corpus(tmp_path_factory):
    X = random_counts(n_docs=30, seed=3)
    path = tmp_path_factory.mktemp("fuzz") / "c"
    from_csr(X, [f"w{j:02d}" for j in range(X.shape[1])], path, row_group_size=8)
    return path, X


def _read_everything(path):
    c = ParquetCorpus(path)
    return c.to_csr(), c.doc_ids(), c.vocabulary.words


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_corpus_folders_read_correctly_or_fail_clearly(pristine_corpus, data):
    import tempfile
    from pathlib import Path

    path, X = pristine_corpus
    names = sorted(p.name for p in path.iterdir())
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(path, Path(tmp) / "c"))
        name = data.draw(st.sampled_from(names), label="file")
        raw = bytearray((copy / name).read_bytes())
        if data.draw(st.booleans(), label="truncate"):
            raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
        else:
            for _ in range(data.draw(st.integers(1, 3), label="flips")):
                at = data.draw(st.integers(0, len(raw) - 1), label="at")
                raw[at] ^= data.draw(st.integers(1, 255), label="xor")
        (copy / name).write_bytes(bytes(raw))
        try:
            csr, doc_ids, words = _read_everything(copy)
        except CorpusError:
            return
        assert (csr != X).nnz == 0
        np.testing.assert_array_equal(doc_ids, np.arange(X.shape[0]))
        assert words == [f"w{j:02d}" for j in range(X.shape[1])]


def test_corpora_without_checksums_are_still_read(corpus):
    c, X = corpus
    manifest = json.loads((c.path / "manifest.json").read_text())
    for entry in manifest["files"]:
        for key in ("size", "footer_sha256", "row_group_sha256"):
            del entry[key]
    for key in ("content_sha256", "vocabulary_file_sha256"):
        del manifest[key]
    (c.path / "manifest.json").write_text(json.dumps(manifest))
    old = ParquetCorpus(c.path)
    assert all(u.sha256 is None for u in old.units) and (old.to_csr() != X).nnz == 0
