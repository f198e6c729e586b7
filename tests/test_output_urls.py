"""The files the commands write besides corpora and models (evaluate's and select-k's
JSON, select-k's plots, the HTML report, demo's work folder, the SLURM job script) go to
URLs as well: a real S3-compatible server (moto's server mode on loopback) through s3fs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import s3_environment

import svi_lda
from svi_lda import OnlineLDA
from svi_lda.corpus import from_csr
from svi_lda.synthetic import make_lda_corpus

pytestmark = pytest.mark.timeout(300)
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@pytest.fixture(scope="module")
def corpus_and_model(tmp_path_factory):
    syn = make_lda_corpus(400, 120, 3, doc_length=40, seed=4)
    folder = tmp_path_factory.mktemp("outputs")
    corpus = from_csr(syn.X, [f"w{i}" for i in range(120)], folder / "corpus",
                      row_group_size=100)
    model = OnlineLDA(n_components=3, batch_size=100, random_state=0, max_iter=2)
    model.fit(corpus.path)
    model.save(folder / "model")
    return corpus.path, folder / "model"


def test_evaluate_report_and_select_k_write_to_urls(s3_bucket, corpus_and_model, capsys):
    import fsspec

    from pipelines.cli import main

    fs = fsspec.filesystem("s3")
    corpus, model = corpus_and_model
    figures = f"{s3_bucket}/out/figures.json"
    assert main(["evaluate", str(model), str(corpus), "--json", figures]) == 0
    assert "log_predictive_per_token" in json.loads(fs.cat_file(figures))

    page = f"{s3_bucket}/out/report.html"
    assert main(["report", str(model), "--out", page]) == 0
    assert f"report written to {page}" in capsys.readouterr().out
    assert fs.cat_file(page).startswith(b"<!DOCTYPE html>")

    k_json, k_png = f"{s3_bucket}/out/k.json", f"{s3_bucket}/out/k.png"
    assert main(["select-k", str(corpus), "--topics", "2", "3", "--passes", "1",
                 "--json", k_json, "--plot", k_png]) == 0
    assert [r["n_topics"] for r in json.loads(fs.cat_file(k_json))["results"]] == [2, 3]
    assert fs.cat_file(k_png)[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(Path.cwd().glob("s3:*"))  # nothing written to a local "s3:" folder


@pytest.mark.distributed
@pytest.mark.timeout(240)
def test_demo_keeps_its_corpus_and_model_under_a_url(s3_bucket, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "pipelines.demo", "--epochs", "1", "--topics", "4",
         "--workdir", f"{s3_bucket}/demo/"],
        cwd=tmp_path, capture_output=True, text=True, timeout=220, env=dict(os.environ),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"-> {s3_bucket}/demo/corpus" in run.stdout
    model = svi_lda.load(f"{s3_bucket}/demo/model")
    assert model.n_components == 4 and model.n_batch_iter_ > 0
    assert svi_lda.ParquetCorpus(f"{s3_bucket}/demo/corpus").n_docs == 3000
    assert not list(tmp_path.iterdir())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_slurm_job_script_to_a_url(s3_bucket, s3_endpoint, corpus_and_model, tmp_path):
    """``--jobs 0 --job-script-out URL``: the script lands in the bucket (train then waits
    one second for a worker that nobody starts, and fails, as it should)."""
    import fsspec

    pytest.importorskip("dask_jobqueue")
    from test_deploy import _tls_env

    certs = tmp_path / "tls"
    subprocess.run(
        ["bash", str(DEPLOY / "tls" / "make-certs.sh"), str(certs)], check=True, timeout=60,
        capture_output=True,
    )
    script = f"{s3_bucket}/jobs/worker.sh"
    corpus, _ = corpus_and_model
    run = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "slurm", "--jobs", "0", "--cores", "1",
         "--interface", "lo", "--job-script-out", script, "--", "train", str(corpus),
         "--topics", "2", "--out", str(tmp_path / "model"), "--workers", "1",
         "--timeout", "1", "--top-words", "0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, **_tls_env(certs), **s3_environment(s3_endpoint)},
    )
    assert f"worker job script: {script}" in run.stdout, run.stderr[-3000:]
    text = fsspec.filesystem("s3").cat_file(script).decode()
    assert "#SBATCH" in text and "tls://127.0.0.1:" in text
    assert not (tmp_path / "s3:").exists()
