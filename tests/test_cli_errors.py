"""Bad arguments and bad files through the real ``svi-lda`` command: one line naming the
argument or file on stderr, no traceback, a non-zero exit, and nothing started first."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from svi_lda.corpus import ParquetCorpus, from_csr, ingest
from svi_lda.corpus.format import row_group_ranges
from svi_lda.synthetic import make_lda_corpus

REPO = Path(__file__).resolve().parents[1]
_SCRIPT = Path(sys.executable).with_name("svi-lda")
SVI_LDA = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "pipelines.cli"]


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_NUM_THREADS": "1"}
    return subprocess.run(
        [*SVI_LDA, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *names: str) -> str:
    err = result.stderr.strip()
    assert result.returncode != 0, (result.stdout, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for name in names:
        assert name in err, err
    return err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    syn = make_lda_corpus(300, 50, 3, doc_length=30, seed=1)
    path = tmp_path_factory.mktemp("cli_errors") / "corpus"
    from_csr(syn.X, [f"w{i}" for i in range(50)], path, row_group_size=100)
    return path


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["--topics", "0"], "--topics"),
        (["--topics", "-3"], "--topics"),
        (["--topics", "3", "--batch-size", "0"], "--batch-size"),
        (["--topics", "3", "--learning-decay", "2"], "--learning-decay"),
        (["--topics", "3", "--epochs", "-1"], "--epochs"),
        (["--topics", "3", "--workers", "0"], "--workers"),
        (["--topics", "3", "--alpha", "-1"], "--alpha"),
        # options of one engine given to the other (issue 16)
        (["--topics", "3", "--pipelined"], "--pipelined"),
        (["--topics", "3", "--threads-per-worker", "2"], "--threads-per-worker"),
        (["--topics", "3", "--threads", "2", "--workers", "2"], "--threads"),
        (["--topics", "3", "--local-cluster", "--scheduler", "tcp://127.0.0.1:9"],
         "--local-cluster"),
        (["--topics", "3", "--sharded"], "--sharded"),  # shards live on cluster workers
    ],
)
def test_train_rejects_bad_arguments_before_starting(corpus, tmp_path, args, name):
    result = run("train", corpus, "--out", tmp_path / "model", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result, name)
    assert not (tmp_path / "model").exists()  # nothing was started or written


def test_train_rejects_an_out_path_that_is_a_file(corpus, tmp_path):
    (tmp_path / "model").write_text("not a folder")
    result = run("train", corpus, "--topics", "3", "--out", tmp_path / "model", cwd=tmp_path)
    assert_one_line_error(result, "--out", str(tmp_path / "model"))


def _copy(corpus: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(corpus, tmp_path / "corpus"))


def test_train_on_a_part_with_a_flipped_byte(corpus, tmp_path):
    bad = _copy(corpus, tmp_path)
    part = bad / "part-00000.parquet"
    start, stop = row_group_ranges(pq.read_metadata(part))[1]
    data = bytearray(part.read_bytes())
    data[(start + stop) // 2] ^= 0x55
    part.write_bytes(bytes(data))
    result = run("train", bad, "--topics", "3", "--out", tmp_path / "model", cwd=tmp_path)
    assert_one_line_error(result, "part-00000.parquet", "row group 1")
    assert not (tmp_path / "model").exists()


def test_train_on_a_manifest_entry_without_path(corpus, tmp_path):
    bad = _copy(corpus, tmp_path)
    manifest = json.loads((bad / "manifest.json").read_text())
    del manifest["files"][0]["path"]
    del manifest["content_sha256"]  # as an older or hand-edited manifest
    (bad / "manifest.json").write_text(json.dumps(manifest))
    result = run("train", bad, "--topics", "3", "--out", tmp_path / "model", cwd=tmp_path)
    assert_one_line_error(result, "manifest.json", "path")


def _tsv_gz(path: Path, n_docs: int) -> bytes:
    rows = "text\n" + "".join(
        f"document {i} talks about cats{i % 7} dogs{i % 5} and birds{i % 3}\n"
        for i in range(n_docs)
    )
    data = gzip.compress(rows.encode())
    path.write_bytes(data)
    return data


def test_ingest_of_a_truncated_gz_keeps_the_good_prefix_and_reports_the_loss(tmp_path):
    data = _tsv_gz(tmp_path / "full.tsv.gz", 20000)
    (tmp_path / "cut.tsv.gz").write_bytes(data[: len(data) // 2])
    result = run("ingest", "cut.tsv.gz", "--out", "out", "--no-dask", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    err = result.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "cut.tsv.gz" in err and "truncated" in err
    assert "lost" in result.stdout
    corpus = ParquetCorpus(tmp_path / "out")
    assert 1000 < corpus.n_docs < 20000  # the whole lines before the cut
    assert corpus.manifest["counts"]["truncated_inputs"] == 1


def test_ingest_of_a_truncated_parquet(tmp_path):
    pq.write_table(pa.table({"text": [f"doc {i} with words" for i in range(200)]}),
                   tmp_path / "good.parquet")
    data = (tmp_path / "good.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    result = run("ingest", "cut.parquet", "--out", "out", "--no-dask", "-q", cwd=tmp_path)
    assert_one_line_error(result, "cut.parquet")


def test_ingest_of_a_file_that_is_not_parquet(tmp_path):
    (tmp_path / "fake.parquet").write_text("just some text\n" * 20)
    result = run("ingest", "fake.parquet", "--out", "out", "--no-dask", "-q", cwd=tmp_path)
    assert_one_line_error(result, "fake.parquet", "Parquet")


def test_failed_overwrite_keeps_the_old_corpus(tmp_path):
    _tsv_gz(tmp_path / "good.tsv.gz", 50)
    old = ingest(tmp_path / "good.tsv.gz", tmp_path / "out")
    (tmp_path / "empty.tsv").write_text("text\n\n")
    with pytest.raises(ValueError, match="no usable documents"):
        ingest(tmp_path / "empty.tsv", tmp_path / "out", overwrite=True)
    kept = ParquetCorpus(tmp_path / "out")
    assert kept.n_docs == old.n_written == 50 and kept.manifest["source"]["inputs"] == [
        str(tmp_path / "good.tsv.gz")
    ]
    assert not list((tmp_path / "out").glob(".replacing-*"))  # the failed attempt is gone
    _tsv_gz(tmp_path / "other.tsv.gz", 30)
    new = ingest(tmp_path / "other.tsv.gz", tmp_path / "out", overwrite=True)
    assert new.out_dir == tmp_path / "out" and ParquetCorpus(tmp_path / "out").n_docs == 30
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "manifest.json", "part-00000.parquet", "vocabulary.parquet"
    ]


@pytest.mark.distributed
def test_ingest_on_its_local_cluster_is_quiet(tmp_path):
    """The ingest's own cluster is train's (loopback, no dashboard, Dask's INFO chatter
    off): a successful quiet run prints nothing on stderr."""
    _tsv_gz(tmp_path / "docs.tsv.gz", 200)
    result = run("ingest", "docs.tsv.gz", "--out", "out", "--workers", "1", "-q", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
    assert ParquetCorpus(tmp_path / "out").n_docs == 200
