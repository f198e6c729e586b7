"""Ingest inputs given as URLs: a real S3-compatible server (moto's server mode on
loopback) reached through s3fs, with real files in the bucket; the result must equal the
ingest of the same files from a local folder, byte for byte, and train to the same model."""

from __future__ import annotations

import bz2
import gzip
import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import configure_workers, upload_folder

from svi_lda import OnlineLDA
from svi_lda.corpus import InputError, ParquetCorpus, from_uci, ingest
from svi_lda.synthetic import make_lda_corpus

pytestmark = pytest.mark.timeout(300)

WORDS = [f"word{j}" for j in range(150)]


def _texts(n: int, seed: int) -> list[str]:
    syn = make_lda_corpus(n, len(WORDS), 4, doc_length=25, seed=seed)
    X = syn.X.tocsr()
    return [
        " ".join(WORDS[j] for j, c in zip(X[d].indices, X[d].data, strict=True)
                 for _ in range(int(c)))
        for d in range(n)
    ]


def write_inputs(folder):
    """A folder of every input kind, one subfolder deep, with a malformed TSV (bad rows
    among good ones) and a truncated .jsonl.gz among the good files."""
    (folder / "more").mkdir(parents=True)
    texts = _texts(620, seed=1)
    jsonl = "".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(texts[:150]))
    (folder / "a.jsonl.gz").write_bytes(gzip.compress(jsonl.encode()))
    tsv = "id\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(texts[150:350]))
    (folder / "b.tsv").write_text(tsv)  # several partitions with the small block size
    bad = "id\ttext\n" + "".join(
        f"{i}\t{t}\n" if i % 10 else f"{i}\t{t}\tan extra field\n"
        for i, t in enumerate(texts[350:400])
    )
    (folder / "c-malformed.tsv").write_text(bad)
    csv = "id,text\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(texts[400:450]))
    (folder / "d.csv.bz2").write_bytes(bz2.compress(csv.encode()))
    pq.write_table(pa.table({"text": texts[450:520]}), folder / "e.parquet")
    for i, t in enumerate(texts[520:540]):
        (folder / "more" / f"f{i:02d}.txt").write_text(t)
    big = "".join(json.dumps({"text": t}) + "\n" for t in _texts(3000, seed=2))
    cut = gzip.compress(big.encode())
    (folder / "g-truncated.jsonl.gz").write_bytes(cut[: len(cut) // 2])
    (folder / "README.md").write_text("not an input: unknown formats in a folder are skipped")
    return folder


def _rejects(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ingest_of_an_s3_folder_equals_the_local_ingest_and_trains_the_same(
    s3_bucket, tmp_path
):
    import fsspec

    local_raw = write_inputs(tmp_path / "raw")
    raw = f"{s3_bucket}/raw"
    upload_folder(local_raw, raw)
    options = dict(row_group_size=64, block_bytes=8 << 10)
    local = ingest(local_raw, tmp_path / "local", **options)
    remote = ingest(raw + "/", tmp_path / "remote", **options)  # the prefix, slash or not
    assert remote.n_files == local.n_files == 26 and remote.n_partitions == local.n_partitions
    assert remote.n_partitions > 6 + 1  # b.tsv was cut into byte ranges (the .txt: one)
    for field in ("n_read", "n_written", "n_empty", "n_rejected", "n_tokens", "n_features"):
        assert getattr(remote, field) == getattr(local, field), field
    assert local.n_rejected == 5  # the five malformed rows of c-malformed.tsv

    a, b = ParquetCorpus(tmp_path / "local"), ParquetCorpus(tmp_path / "remote")
    assert b.manifest["files"] == a.manifest["files"]  # the same bytes, the same hashes
    assert b.vocabulary.words == a.vocabulary.words
    assert b.manifest["source"]["inputs"] == [
        f.replace(str(local_raw), raw) for f in a.manifest["source"]["inputs"]
    ]
    # Rejects and losses name each file by its URL, with the same lines.
    rejects = _rejects(tmp_path / "remote" / "rejects.jsonl")
    assert rejects == [
        {**r, "file": r["file"].replace(str(local_raw), raw)}
        for r in _rejects(tmp_path / "local" / "rejects.jsonl")
    ]
    assert {r["file"] for r in rejects} == {f"{raw}/c-malformed.tsv"}
    assert [r["line"] for r in rejects] == [2, 12, 22, 32, 42]
    assert len(remote.losses) == 1
    assert remote.losses[0].startswith(f"{raw}/g-truncated.jsonl.gz: the compressed file is "
                                       "truncated")

    params = dict(n_components=4, batch_size=128, random_state=2, max_iter=2)
    model = OnlineLDA(**params).fit(tmp_path / "remote")
    reference = OnlineLDA(**params).fit(tmp_path / "local")
    np.testing.assert_array_equal(model.components_, reference.components_)

    # A single remote file, and a glob, as the same files would be locally; Parquet alone
    # (its kept columns typed from the remote file's schema).
    only_parquet = ingest(f"{raw}/e.parquet", tmp_path / "pq", **options)
    assert only_parquet.n_written == 70 and only_parquet.n_files == 1
    one = ingest(f"{raw}/b.tsv", tmp_path / "one", **options)
    assert one.n_written == ingest(local_raw / "b.tsv", tmp_path / "one-local", **options).n_written
    matched = ingest(f"{raw}/*.jsonl.gz", f"{s3_bucket}/from-glob", **options)
    assert matched.n_files == 2 and matched.out_dir == f"{s3_bucket}/from-glob"
    assert fsspec.filesystem("s3").isfile(f"{s3_bucket}/from-glob/manifest.json")


def test_ingest_errors_name_the_url(s3_bucket, tmp_path):
    raw = f"{s3_bucket}/raw"
    folder = tmp_path / "raw"
    folder.mkdir()
    (folder / "notes.md").write_text("no inputs here")
    (folder / "docs.tsv").write_text("title\nno text column\n")
    (folder / "empty.jsonl").write_text("")
    upload_folder(folder, raw)
    cases = {
        f"{raw}/missing/": f"input {raw}/missing does not exist",
        f"{raw}/nothing-*.tsv": f"input {raw}/nothing-*.tsv matches no files",
        f"{raw}/notes.md": f"{raw}/notes.md: unknown format",
        f"{raw}/docs.tsv": f"{raw}/docs.tsv: no column 'text' in the header",
        "nosuchprotocol://bucket/x": "cannot open nosuchprotocol://bucket/x",
    }
    for source, message in cases.items():
        with pytest.raises(InputError) as info:
            ingest(source, tmp_path / "out")
        assert message in str(info.value) and "\n" not in str(info.value), info.value
    with pytest.raises(ValueError, match=f"no usable documents in \\['{raw}/empty.jsonl'\\]"):
        ingest(f"{raw}/empty.jsonl", tmp_path / "out")


def test_cli_ingest_url_errors_are_one_line(tmp_path, capsys):
    from pipelines.ingest import main

    (tmp_path / "docs.tsv").write_text("text\nsome words here\n")
    for inputs, out, message in (
        (tmp_path / "docs.tsv", "nosuchprotocol://b/corpus",
         "cannot open nosuchprotocol://b/corpus: Protocol not known"),
        ("nosuchprotocol://b/docs.tsv", tmp_path / "out",
         "cannot open nosuchprotocol://b/docs.tsv: Protocol not known"),
    ):
        assert main([str(inputs), "--out", str(out), "--no-dask", "-q"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("svi-lda ingest: error: ") and message in err, err
        assert len(err.strip().splitlines()) == 1


def svi_lda_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True,
        text=True, env=dict(os.environ), timeout=240,
    )


@pytest.mark.distributed
def test_cli_ingest_from_s3_on_dask_workers_with_word_lists_from_s3(
    s3_bucket, s3_endpoint, dask_client, tmp_path
):
    """The workers open their partitions on the store themselves (given the store's
    environment, as a deployment gives it), and the word lists are read from URLs too."""
    import fsspec

    local_raw = write_inputs(tmp_path / "raw")
    raw = f"{s3_bucket}/raw"
    upload_folder(local_raw, raw)
    fs = fsspec.filesystem("s3")
    fs.pipe_file(f"{s3_bucket}/lists/stop.txt", b"# dropped\nword0\nword1\n")
    fs.pipe_file(f"{s3_bucket}/lists/keep.txt", b"word149\n")
    common = ["--row-group-size", "64", "--block-mb", "0.01", "--min-df", "3",
              "--stop-words-file", f"{s3_bucket}/lists/stop.txt",
              "--keep-words", f"{s3_bucket}/lists/keep.txt", "-q"]
    configure_workers(dask_client, s3_endpoint)
    try:
        run = svi_lda_cli("ingest", raw, "--out", tmp_path / "remote", *common,
                          "--scheduler", dask_client.scheduler.address)
    finally:
        configure_workers(dask_client, None)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"lost          {raw}/g-truncated.jsonl.gz: the compressed" in run.stdout
    local = svi_lda_cli("ingest", local_raw, "--out", tmp_path / "local", *common, "--no-dask")
    assert local.returncode == 0, local.stderr[-3000:]
    a, b = ParquetCorpus(tmp_path / "local"), ParquetCorpus(tmp_path / "remote")
    assert b.manifest["files"] == a.manifest["files"]
    assert "word0" not in b.vocabulary.words and "word149" in b.vocabulary.words

    missing = svi_lda_cli("ingest", raw, "--out", tmp_path / "x", "--no-dask", "-q",
                          "--stop-words-file", f"{s3_bucket}/lists/nope.txt")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.strip() == (
        f"svi-lda ingest: error: --stop-words-file {s3_bucket}/lists/nope.txt: no such file"
    )


def test_from_uci_reads_urls(s3_bucket, tmp_path):
    import fsspec

    fs = fsspec.filesystem("s3")
    docword = b"3\n4\n4\n1 1 2\n1 3 1\n3 2 5\n3 4 1\n"
    fs.pipe_file(f"{s3_bucket}/uci/docword.toy.txt.gz", gzip.compress(docword))
    fs.pipe_file(f"{s3_bucket}/uci/vocab.toy.txt", b"apple\nbanana\ncherry\ndate\n")
    corpus = from_uci(f"{s3_bucket}/uci/docword.toy.txt.gz", f"{s3_bucket}/uci/vocab.toy.txt",
                      tmp_path / "uci")
    assert corpus.vocabulary.words == ["apple", "banana", "cherry", "date"]
    np.testing.assert_array_equal(
        corpus.to_csr().toarray(), [[2, 0, 1, 0], [0, 0, 0, 0], [0, 5, 0, 1]]
    )
    assert corpus.manifest["source"]["docword"] == f"{s3_bucket}/uci/docword.toy.txt.gz"
