"""Output locations are checked when a command's arguments are parsed (protocol installed,
bucket present, local parent folder present) and fail in one line naming the location
before any work; sharded training and select-k take URL corpora and work folders. A real
S3-compatible server (moto's server mode on loopback) through s3fs."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import upload_folder, workers_on_s3

from svi_lda import OnlineLDA
from svi_lda.corpus import from_csr, ingest
from svi_lda.storage import StorageError, check_output
from svi_lda.synthetic import make_lda_corpus

pytestmark = pytest.mark.timeout(300)

UNKNOWN = "nosuchprotocol://b/out"


@pytest.fixture(scope="module")
def local_corpus(tmp_path_factory):
    syn = make_lda_corpus(300, 150, 3, doc_length=40, seed=6)
    path = tmp_path_factory.mktemp("checks") / "corpus"
    from_csr(syn.X, [f"w{i}" for i in range(150)], path, row_group_size=50)
    return path


def one_line_error(capsys, argv, code=2):
    """Run the CLI on ``argv``; the error (exit ``code``) is one stderr line."""
    from pipelines.cli import main

    try:
        got = main(argv)
    except SystemExit as exc:  # argparse's error
        got = exc.code
    err = capsys.readouterr().err.strip()
    assert got == code, err
    assert "\n" not in err and "Traceback" not in err, err
    return err


# -- the checks themselves ------------------------------------------------------------------
def test_check_output_names_the_location(s3_bucket, tmp_path):
    check_output(f"{s3_bucket}/a/b.json")  # bucket present: fine
    check_output(tmp_path / "e.json")
    check_output(tmp_path / "new" / "deeper", folder=True)  # created by the command
    with pytest.raises(StorageError, match="s3://nobucket-svi/e.json.*'nobucket-svi'"):
        check_output("s3://nobucket-svi/e.json")
    with pytest.raises(StorageError, match=UNKNOWN):
        check_output(UNKNOWN, folder=True)
    with pytest.raises(StorageError, match="does not exist"):
        check_output(tmp_path / "nodir" / "sub" / "e.json")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StorageError, match="afile"):
        check_output(tmp_path / "afile" / "model", folder=True)


# -- each command fails on its bad output before any work -----------------------------------
# The model and corpus arguments name nothing that exists: the output's error comes first,
# so the check ran before anything was read.
@pytest.mark.parametrize("argv, where", [
    (["evaluate", "nomodel", "nocorpus", "--json", "s3://nobucket-svi/e.json"],
     "s3://nobucket-svi/e.json"),
    (["evaluate", "nomodel", "nocorpus", "--json", "nodir/sub/e.json"], "nodir/sub/e.json"),
    (["evaluate", "nomodel", "nocorpus", "--json", f"{UNKNOWN}/e.json"], UNKNOWN),
    (["report", "nomodel", "--out", "s3://nobucket-svi/r.html"], "s3://nobucket-svi/r.html"),
    (["demo", "--workdir", "s3://nobucket-svi/d"], "s3://nobucket-svi/d"),
    (["train", "nocorpus", "--topics", "3", "--out", "s3://nobucket-svi/m"],
     "s3://nobucket-svi/m"),
    (["train", "nocorpus", "--topics", "3", "--out", f"{UNKNOWN}/m"], UNKNOWN),
    (["select-k", "nocorpus", "-k", "2", "3", "--work-dir", "s3://nobucket-svi/skw"],
     "s3://nobucket-svi/skw"),
])
def test_a_bad_output_fails_in_one_line_before_any_work(s3_bucket, capsys, argv, where):
    err = one_line_error(capsys, argv)
    assert where in err


def test_ingest_to_a_missing_bucket_fails_before_the_first_pass(s3_bucket, capsys, tmp_path):
    err = one_line_error(capsys, ["ingest", str(tmp_path / "no-inputs"), "--no-dask",
                                  "--out", "s3://nobucket-svi/c"], code=1)
    assert "s3://nobucket-svi/c" in err and "no input files" not in err
    (tmp_path / "a.txt").write_text("one document\n")
    with pytest.raises(StorageError, match="s3://nobucket-svi/c"):
        ingest([tmp_path / "a.txt"], "s3://nobucket-svi/c")


def test_ingest_min_df_out_of_range_is_refused_at_parse(capsys, tmp_path):
    err = one_line_error(capsys, ["ingest", str(tmp_path), "--out", str(tmp_path / "c"),
                                  "--min-df", "1.5"])
    assert "--min-df" in err


# -- URL corpora and work folders -------------------------------------------------------------
def test_select_k_with_an_s3_corpus_and_work_dir(s3_bucket, local_corpus, capsys):
    import fsspec

    from pipelines.cli import main

    url = f"{s3_bucket}/corpus"
    upload_folder(local_corpus, url)
    out = f"{s3_bucket}/k.json"
    assert main(["select-k", url, "-k", "2", "3", "--passes", "1",
                 "--work-dir", f"{s3_bucket}/skw", "--json", out]) == 0
    results = json.loads(fsspec.filesystem("s3").cat_file(out))["results"]
    assert [r["n_topics"] for r in results] == [2, 3]


@pytest.mark.distributed
def test_sharded_fit_on_an_s3_corpus_equals_in_process(
    dask_client, s3_bucket, s3_endpoint, local_corpus
):
    from svi_lda.distributed import fit_distributed

    url = f"{s3_bucket}/corpus"
    upload_folder(local_corpus, url)
    params = dict(n_components=3, batch_size=100, random_state=2, max_iter=1)
    with workers_on_s3(dask_client, s3_endpoint):
        model = fit_distributed(dask_client, OnlineLDA(**params), url, sharded=True)
    reference = OnlineLDA(**params).fit(local_corpus)
    assert model.n_batch_iter_ == reference.n_batch_iter_
    np.testing.assert_array_equal(model.components_, reference.components_)


# -- stream's log output ----------------------------------------------------------------------
def test_stream_prints_its_own_info_lines_not_other_libraries(tmp_path):
    """Root logger at WARNING, svi_lda's at INFO (botocore's "Found credentials" and
    NumExpr's thread count used to print on every run)."""
    code = (
        "import logging, sys\n"
        "from pipelines.stream import main\n"
        f"main([{str(tmp_path / 'inbox')!r}, '--model', {str(tmp_path / 'm')!r}, '--once'])\n"
        "logging.getLogger('botocore.credentials').info('Found credentials elsewhere')\n"
        "logging.getLogger('svi_lda.streaming.feed').info('our own line')\n"
    )
    (tmp_path / "inbox").mkdir()
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert "our own line" in run.stderr, run.stderr
    assert "Found credentials" not in run.stderr
