"""Corpora and models on an object store: a real S3-compatible server (moto's server mode,
on loopback), reached through s3fs exactly as a user's S3 bucket would be."""

from __future__ import annotations

import numpy as np
import pytest

import svi_lda
from svi_lda import OnlineLDA
from svi_lda.corpus import ParquetCorpus, from_csr, ingest
from svi_lda.synthetic import make_lda_corpus

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def local_corpus(tmp_path_factory):
    syn = make_lda_corpus(600, 200, 4, doc_length=40, seed=3)
    path = tmp_path_factory.mktemp("s3") / "corpus"
    from_csr(syn.X, [f"w{i}" for i in range(200)], path, row_group_size=50)
    return path


def upload(local, url):
    import fsspec

    fs = fsspec.filesystem("s3")
    for f in sorted(local.iterdir()):
        fs.put_file(str(f), f"{url.removeprefix('s3://')}/{f.name}")


def test_fit_save_load_through_s3_equal_local_bitwise(s3_bucket, local_corpus, tmp_path):
    url = f"{s3_bucket}/corpus"
    upload(local_corpus, url)
    remote = ParquetCorpus(url + "/")
    assert remote.path == url and remote.n_docs == 600
    assert remote.verify() == len(remote.units)
    params = dict(n_components=4, batch_size=100, random_state=5, max_iter=2)
    local_model = OnlineLDA(**params).fit(local_corpus)
    model = OnlineLDA(**params).fit(url)
    np.testing.assert_array_equal(model.components_, local_model.components_)
    model.save(f"{s3_bucket}/model")
    local_model.save(tmp_path / "model")
    loaded = svi_lda.load(f"{s3_bucket}/model")
    np.testing.assert_array_equal(loaded.components_, svi_lda.load(tmp_path / "model").components_)
    assert loaded.vocabulary_.words == local_model.vocabulary_.words
    # a second save replaces the first; loading still gives the newest
    model.partial_fit(remote.to_csr()[:50])
    model.save(f"{s3_bucket}/model")
    np.testing.assert_array_equal(svi_lda.load(f"{s3_bucket}/model").components_,
                                  model.components_)


# -- end to end through the real command line --------------------------------------------
def write_documents(folder, n_files=3, per_file=80, seed=0):
    """Gzipped JSON Lines of documents drawn from 4 planted topics."""
    import gzip
    import json

    syn = make_lda_corpus(n_files * per_file, 120, 4, doc_length=30, seed=seed)
    X = syn.X.tocsr()
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        lines = []
        for d in range(f * per_file, (f + 1) * per_file):
            row = X[d]
            words = [f"word{j}" for j, c in zip(row.indices, row.data, strict=True)
                     for _ in range(int(c))]
            lines.append(json.dumps({"text": " ".join(words)}))
        with gzip.open(folder / f"docs-{f}.jsonl.gz", "wt") as fh:
            fh.write("\n".join(lines) + "\n")
    return folder


def svi_lda_cli(*args, check=True):
    import os
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *map(str, args)], capture_output=True,
        text=True, env=dict(os.environ), timeout=240,
    )
    if check:
        assert run.returncode == 0, run.stderr[-3000:]
    return run


TRAIN = ("--topics", "4", "--batch-size", "40", "--seed", "3", "--log-every", "1",
         "--workers", "1")


def test_cli_ingest_train_resume_evaluate_report_on_s3(s3_bucket, tmp_path):
    docs = write_documents(tmp_path / "docs")
    corpus, model = f"{s3_bucket}/corpus/", f"{s3_bucket}/model/"
    svi_lda_cli("ingest", docs / "*.jsonl.gz", "--out", corpus, "--no-dask",
                "--row-group-size", "40")
    ingest(str(docs / "*.jsonl.gz"), tmp_path / "corpus", row_group_size=40)
    local = ParquetCorpus(tmp_path / "corpus")
    remote = ParquetCorpus(corpus)
    assert remote.manifest["files"] == local.manifest["files"]  # same bytes, same hashes
    # a second ingest into the same place is refused, as locally
    again = svi_lda_cli("ingest", docs, "--out", corpus, "--no-dask", check=False)
    assert again.returncode == 1 and "already holds a corpus" in again.stderr

    # 6 minibatches per epoch: stop after 4 steps, then resume to the end of 2 epochs
    svi_lda_cli("train", corpus, *TRAIN, "--out", model, "--steps", "4",
                "--checkpoint-every", "2")
    checkpoint = svi_lda.load(f"{model}checkpoint")
    assert checkpoint.n_batch_iter_ == 4
    refused = svi_lda_cli("train", corpus, *TRAIN, "--out", model, "--epochs", "2",
                          check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = svi_lda_cli("train", corpus, *TRAIN, "--out", model, "--epochs", "2",
                          "--resume")
    assert "resuming" in resumed.stderr
    trained = svi_lda.load(model)
    reference = OnlineLDA(n_components=4, batch_size=40, random_state=3, max_iter=2)
    reference.fit(tmp_path / "corpus")
    assert trained.n_batch_iter_ == reference.n_batch_iter_ == 12
    np.testing.assert_array_equal(trained.components_, reference.components_)
    assert trained.load_extra_["corpus"] == corpus.rstrip("/")

    figures = svi_lda_cli("evaluate", model, corpus, "--json", tmp_path / "eval.json")
    assert "training" in figures.stdout.lower() or "held" in figures.stdout.lower()
    page = tmp_path / "report.html"
    svi_lda_cli("report", model, "--corpus", corpus, "--out", page)
    assert page.stat().st_size > 1000
