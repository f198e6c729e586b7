"""Ingest: every input format round-trips to what a plain-Python tokenizer and counter give;
bad records are counted and listed; output is independent of partitioning and workers."""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import json
import lzma
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from svi_lda.corpus import IngestError, InputError, ParquetCorpus, ingest
from svi_lda.text import Tokenizer

DOCS = [
    "The quick brown fox jumps over the lazy dog",
    "Never jump over the lazy dog quickly, said the fox",
    "Café crème and naïve résumé: déjà vu",
    "dog dog dog fox",
    "Numbers 42 and 7 and words_with_underscores",
    "Brown dogs and brown foxes",
]


def reference_matrix(docs, min_df=1, stop=frozenset()):
    """Plain Python: regex, lowercase, Counter; vocabulary sorted; min_df on doc counts."""
    toks = [[t for t in re.findall(r"(?u)\b\w\w+\b", d.lower()) if t not in stop] for d in docs]
    df = Counter(w for t in toks for w in set(t))
    words = sorted(w for w, n in df.items() if n >= min_df)
    index = {w: i for i, w in enumerate(words)}
    rows = []
    for t in toks:
        c = Counter(w for w in t if w in index)
        row = np.zeros(len(words))
        for w, n in c.items():
            row[index[w]] = n
        rows.append(row)
    return words, np.array(rows)


def check_corpus(out: Path, docs, doc_ids=None, min_df=1):
    words, expected = reference_matrix(docs, min_df=min_df)
    corpus = ParquetCorpus(out)
    assert corpus.vocabulary.words == words
    X = corpus.to_csr()
    nonempty = expected.sum(axis=1) > 0
    np.testing.assert_array_equal(X.toarray(), expected[nonempty])
    ids = np.flatnonzero(nonempty) if doc_ids is None else doc_ids
    np.testing.assert_array_equal(corpus.doc_ids(), ids)
    assert corpus.n_tokens == expected.sum()
    return corpus


def write_tsv(path, docs, opener=open):
    with opener(path, "wt", encoding="utf-8") as f:
        f.write("id\ttext\n")
        for i, d in enumerate(docs):
            f.write(f"d{i}\t{d}\n")


@pytest.mark.parametrize(
    "suffix,opener",
    [
        (".tsv", open),
        (".tsv.gz", gzip.open),
        (".tsv.bz2", bz2.open),
        (".tsv.xz", lzma.open),
    ],
)
def test_tsv_round_trip(tmp_path, suffix, opener):
    src = tmp_path / f"docs{suffix}"
    write_tsv(src, DOCS, opener)
    report = ingest(src, tmp_path / "out", keep_fields=["id"])
    assert (report.n_read, report.n_written, report.n_rejected) == (6, 6, 0)
    corpus = check_corpus(tmp_path / "out", DOCS)
    ids = pq.read_table(tmp_path / "out" / "part-00000.parquet").column("id").to_pylist()
    assert ids == [f"d{i}" for i in range(6)]
    m = corpus.manifest
    assert m["counts"] == {"read": 6, "written": 6, "empty": 0, "rejected": 0}
    assert m["tokenizer"] == Tokenizer().to_dict()
    assert not (tmp_path / "out" / "rejects.jsonl").exists()


def test_zstd_input(tmp_path):
    src = tmp_path / "docs.jsonl.zst"
    data = "".join(json.dumps({"text": d}) + "\n" for d in DOCS).encode()
    with pa.output_stream(str(src), compression="zstd") as f:
        f.write(data)
    ingest(src, tmp_path / "out")
    check_corpus(tmp_path / "out", DOCS)


def test_csv_with_quotes_and_newlines(tmp_path):
    src = tmp_path / "docs.csv"
    docs = [*DOCS, 'a "quoted", multi\nline text, fox']
    with open(src, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i, d in enumerate(docs):
            w.writerow([d, f"l{i}"])
    ingest(src, tmp_path / "out", keep_fields=["label"])
    check_corpus(tmp_path / "out", docs)


def test_jsonl_parquet_and_txt_folder(tmp_path):
    (tmp_path / "a.jsonl").write_text(
        "".join(json.dumps({"text": d, "n": i}) + "\n" for i, d in enumerate(DOCS))
    )
    ingest(tmp_path / "a.jsonl", tmp_path / "o1", keep_fields=["n"])
    check_corpus(tmp_path / "o1", DOCS)

    pq.write_table(pa.table({"body": DOCS, "uid": list(range(100, 106))}), tmp_path / "b.parquet")
    ingest(tmp_path / "b.parquet", tmp_path / "o2", text_field="body", keep_fields=["uid"])
    check_corpus(tmp_path / "o2", DOCS)
    t = pq.read_table(tmp_path / "o2" / "part-00000.parquet")
    assert t.schema.field("uid").type == pa.int64()  # Parquet metadata keeps its type
    assert t.column("uid").to_pylist() == list(range(100, 106))

    folder = tmp_path / "txt"
    folder.mkdir()
    for i, d in enumerate(DOCS):
        (folder / f"doc{i:02d}.txt").write_text(d)
    ingest(folder, tmp_path / "o3", keep_fields=["path"])
    check_corpus(tmp_path / "o3", DOCS)


def test_several_inputs_get_consecutive_doc_ids(tmp_path):
    write_tsv(tmp_path / "a.tsv", DOCS[:3])
    write_tsv(tmp_path / "b.tsv", DOCS[3:])
    ingest([tmp_path / "a.tsv", tmp_path / "b.tsv"], tmp_path / "out")
    check_corpus(tmp_path / "out", DOCS)
    ingest(str(tmp_path / "*.tsv"), tmp_path / "out2")
    check_corpus(tmp_path / "out2", DOCS)


def read_rejects(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]


def test_bad_tsv_records_are_counted_and_listed(tmp_path):
    src = tmp_path / "bad.tsv"
    lines = [
        b"id\ttext\n",
        b"a\tgood dog\n",  # line 2
        b"b\tbad \xff\xfe bytes\n",  # line 3: undecodable
        b"c\ttoo\tmany fields\n",  # line 4: malformed
        b"d\t\n",  # line 5: empty document
        b"e\tgood fox\r\n",  # line 6: CRLF is fine
        b"nofield\n",  # line 7: malformed
        b"f\tthe end",  # line 8: no final newline
    ]
    src.write_bytes(b"".join(lines))
    report = ingest(src, tmp_path / "out")
    assert (report.n_read, report.n_written, report.n_empty, report.n_rejected) == (7, 3, 1, 3)
    rej = read_rejects(tmp_path / "out")
    assert [(r["file"], r["line"], r["doc_id"]) for r in rej] == [
        (str(src), 3, 1),
        (str(src), 4, 2),
        (str(src), 5, 3),
        (str(src), 7, 5),
    ]
    assert "invalid UTF-8" in rej[0]["reason"] and "byte 4" in rej[0]["reason"]
    assert "expected 2 tab-separated fields, found 3" in rej[1]["reason"]
    assert rej[2]["reason"].startswith("empty document")
    assert "found 1" in rej[3]["reason"]
    corpus = ParquetCorpus(tmp_path / "out")
    assert list(corpus.doc_ids()) == [0, 4, 6]
    assert corpus.manifest["counts"] == {"read": 7, "written": 3, "empty": 1, "rejected": 3}


def test_bad_jsonl_records(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_bytes(
        b'{"text": "fine dog"}\n'  # line 1
        b'{"text": "broken\n'  # line 2: not JSON
        b"\n"  # line 3: blank, skipped
        b'{"title": "no text field"}\n'  # line 4
        b'{"text": null}\n'  # line 5
        b'{"text": 42}\n'  # line 6
        b'["not", "an", "object"]\n'  # line 7
        b'{"text": "bad \xff bytes"}\n'  # line 8
        b'{"text": "fox ok"}\n'  # line 9
    )
    report = ingest(src, tmp_path / "out")
    assert (report.n_read, report.n_written, report.n_rejected) == (8, 2, 6)
    rej = read_rejects(tmp_path / "out")
    assert [r["line"] for r in rej] == [2, 4, 5, 6, 7, 8]
    reasons = [r["reason"] for r in rej]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "missing field 'text'"
    assert "null" in reasons[2] and "int" in reasons[3] and "not a JSON object" in reasons[4]
    assert "UTF-8" in reasons[5]


def test_bad_csv_rows(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_bytes(
        b"id,text\n"  # row 1
        b"1,good dog\n"  # row 2
        b"2,too,many\n"  # row 3: malformed
        b'3,"multi\nline fox"\n'  # row 4
        b"4\n"  # row 5: malformed
        b"5,bad \xff bytes\n"  # row 6
        b"6,end fox\n"  # row 7
    )
    report = ingest(src, tmp_path / "out")
    assert (report.n_read, report.n_written, report.n_rejected) == (6, 3, 3)
    rej = read_rejects(tmp_path / "out")
    assert [(r["row"], r["doc_id"]) for r in rej] == [(3, 1), (5, 3), (6, 4)]
    assert "expected 2 columns, found 3" in rej[0]["reason"]
    assert "UTF-8" in rej[2]["reason"]
    assert list(ParquetCorpus(tmp_path / "out").doc_ids()) == [0, 2, 5]


def test_bad_parquet_and_txt_records(tmp_path):
    pq.write_table(
        pa.table({"text": pa.array([b"dog", None, b"\xff fox", b"fox"], pa.binary())}),
        tmp_path / "x.parquet",
    )
    ingest(tmp_path / "x.parquet", tmp_path / "o1")
    assert [(r["row"], r["reason"][:5]) for r in read_rejects(tmp_path / "o1")] == [
        (1, "field"),
        (2, "undec"),
    ]
    folder = tmp_path / "txt"
    folder.mkdir()
    (folder / "a.txt").write_bytes(b"good dog")
    (folder / "b.txt").write_bytes(b"line one\nline two \xc3\x28 bad")
    (folder / "c.txt").write_bytes(b"")
    report = ingest(folder, tmp_path / "o2")
    assert (report.n_read, report.n_written, report.n_empty, report.n_rejected) == (3, 1, 1, 1)
    rej = read_rejects(tmp_path / "o2")
    assert [(Path(r["file"]).name, r["line"]) for r in rej] == [("b.txt", 2), ("c.txt", 1)]


def test_strict_mode_and_nothing_usable_fail_clearly(tmp_path):
    src = tmp_path / "bad.tsv"
    src.write_bytes(b"text\ngood dog\nbad \xff\n")
    with pytest.raises(IngestError, match=r"bad\.tsv, line 3: undecodable"):
        ingest(src, tmp_path / "o1", strict=True)
    src2 = tmp_path / "allbad.jsonl"
    src2.write_bytes(b"{oops\n{}\n")
    with pytest.raises(IngestError, match=r"no usable documents.*allbad\.jsonl.*'line': 1"):
        ingest(src2, tmp_path / "o2")
    assert not (tmp_path / "o2" / "manifest.json").exists()
    with pytest.raises(InputError, match="no column 'body'"):
        ingest(src, tmp_path / "o3", text_field="body")
    with pytest.raises(InputError, match="does not exist"):
        ingest(tmp_path / "missing.tsv", tmp_path / "o4")


def test_refuses_to_overwrite_a_corpus(tmp_path):
    write_tsv(tmp_path / "a.tsv", DOCS)
    ingest(tmp_path / "a.tsv", tmp_path / "out")
    with pytest.raises(ValueError, match="already holds a corpus"):
        ingest(tmp_path / "a.tsv", tmp_path / "out")
    ingest(tmp_path / "a.tsv", tmp_path / "out", overwrite=True, min_df=2)
    check_corpus(tmp_path / "out", DOCS, min_df=2)


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.name != "manifest.json"
    }


def _manifest_wo_source(folder: Path) -> dict:
    m = json.loads((folder / "manifest.json").read_text())
    m.pop("source")
    return m


def make_big_tsv(path: Path, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(300)])
    docs = []
    for _ in range(n):
        k = rng.integers(0, 30)
        docs.append(" ".join(vocab[rng.zipf(1.3, size=k) % 300]))
    write_tsv(path, docs)
    return docs


def test_partitioning_does_not_change_the_output(tmp_path):
    src = tmp_path / "big.tsv"
    docs = make_big_tsv(src, 3000)
    ingest(src, tmp_path / "one", row_group_size=256, min_df=2)
    r = ingest(src, tmp_path / "many", row_group_size=256, block_bytes=4096, min_df=2)
    assert r.n_partitions > 10
    a = ParquetCorpus(tmp_path / "one")
    b = ParquetCorpus(tmp_path / "many")
    assert a.vocabulary == b.vocabulary
    assert (a.to_csr() != b.to_csr()).nnz == 0
    np.testing.assert_array_equal(a.doc_ids(), b.doc_ids())
    check_corpus(tmp_path / "many", docs, min_df=2)
    # Same partitioning twice gives byte-identical files.
    ingest(src, tmp_path / "again", row_group_size=256, block_bytes=4096, min_df=2)
    assert _digest(tmp_path / "many") == _digest(tmp_path / "again")


def test_rejects_positions_across_partitions(tmp_path):
    src = tmp_path / "big.tsv"
    make_big_tsv(src, 2000, seed=1)
    lines = src.read_bytes().split(b"\n")
    for i in (50, 777, 1999):  # 0-based index into lines: line number i + 1
        lines[i] = b"broken-line-without-tab"
    src.write_bytes(b"\n".join(lines))
    ingest(src, tmp_path / "out", block_bytes=2048)
    rej = [r for r in read_rejects(tmp_path / "out") if "malformed" in r["reason"]]
    assert [r["line"] for r in rej] == [51, 778, 2000]
    assert [r["doc_id"] for r in rej] == [49, 776, 1998]


@pytest.mark.distributed
def test_local_cluster_gives_identical_files(tmp_path, dask_client):
    # In-process (no workers) versus two worker processes: same bytes, because partitions
    # are fixed by the input and merges are exact.
    src = tmp_path / "big.tsv"
    make_big_tsv(src, 4000, seed=2)
    (tmp_path / "side.jsonl").write_text(
        "".join(json.dumps({"text": d}) + "\n" for d in DOCS) + "{bad\n"
    )
    inputs = [src, tmp_path / "side.jsonl"]
    kw = {"row_group_size": 300, "block_bytes": 8192, "min_df": 2}
    ingest(inputs, tmp_path / "local", **kw)
    r = ingest(inputs, tmp_path / "dask", client=dask_client, **kw)
    assert r.n_partitions > 4 and r.n_rejected == 1
    assert _digest(tmp_path / "local") == _digest(tmp_path / "dask")
    assert _manifest_wo_source(tmp_path / "local") == _manifest_wo_source(tmp_path / "dask")


def test_newsgroups_end_to_end_matches_scikit_learn(tmp_path, newsgroups_dir):
    from sklearn.feature_extraction.text import CountVectorizer

    src = newsgroups_dir / "train.tsv.gz"
    report = ingest(
        src,
        tmp_path / "ng",
        keep_fields=["label"],
        min_df=2,
        tokenizer=Tokenizer(stop_words="english"),
    )
    assert report.n_read == 11293 and report.n_rejected == 0
    with gzip.open(src, "rt", encoding="utf-8") as f:
        next(f)
        texts = [line.rstrip("\n").split("\t", 1)[1] for line in f]
    cv = CountVectorizer(stop_words="english", min_df=2)
    Y = cv.fit_transform(texts)
    corpus = ParquetCorpus(tmp_path / "ng")
    assert corpus.vocabulary.words == list(cv.get_feature_names_out())
    keep = np.asarray(Y.sum(axis=1)).ravel() > 0
    assert report.n_written == keep.sum() and report.n_empty == (~keep).sum()
    X = corpus.to_csr()
    assert (X != sp.csr_matrix(Y[keep], dtype=np.float64)).nnz == 0
    np.testing.assert_array_equal(
        corpus.vocabulary.document_frequency, np.asarray((Y > 0).sum(axis=0)).ravel()
    )
    labels = pq.read_table(tmp_path / "ng" / "part-00000.parquet").column("label")
    assert labels[0].as_py() == "alt.atheism"


def test_cli_ingests_the_bundled_sample(tmp_path, capsys):
    from pipelines.ingest import main
    from svi_lda.datasets import newsgroups_sample_path

    rc = main(
        [
            str(newsgroups_sample_path()),
            "--out",
            str(tmp_path / "c"),
            "--no-dask",
            "--stop-words",
            "english",
            "--min-df",
            "2",
            "--max-df",
            "0.5",
            "--keep",
            "label",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "read 3,000" in out and "rejected 0" in out
    corpus = ParquetCorpus(tmp_path / "c")
    assert corpus.n_docs == 3000 and corpus.vocabulary.tokenizer.stop_words == "english"
    rc = main([str(tmp_path / "nope.tsv"), "--out", str(tmp_path / "d"), "--no-dask", "-q"])
    assert rc == 1 and "does not exist" in capsys.readouterr().err
