"""Corpora and models on an object store: a real S3-compatible server (moto's server mode,
on loopback), reached through s3fs exactly as a user's S3 bucket would be."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import configure_workers, upload_folder, workers_on_s3

import svi_lda
from svi_lda import OnlineLDA
from svi_lda.corpus import CorpusError, ParquetCorpus, from_csr, ingest
from svi_lda.persistence import ModelFileError
from svi_lda.synthetic import make_lda_corpus

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def local_corpus(tmp_path_factory):
    syn = make_lda_corpus(600, 200, 4, doc_length=40, seed=3)
    path = tmp_path_factory.mktemp("s3") / "corpus"
    from_csr(syn.X, [f"w{i}" for i in range(200)], path, row_group_size=50)
    return path


def test_fit_save_load_through_s3_equal_local_bitwise(s3_bucket, local_corpus, tmp_path):
    import fsspec

    url = f"{s3_bucket}/corpus"
    local = ParquetCorpus(local_corpus)
    remote = from_csr(local.to_csr(), local.vocabulary.words, url + "/", row_group_size=50)
    assert remote.path == url and remote.n_docs == 600
    assert remote.manifest["files"] == local.manifest["files"]  # the same bytes
    with pytest.raises(ValueError, match="already holds a corpus"):
        from_csr(local.to_csr(), local.vocabulary.words, url, row_group_size=50)
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
    # later saves replace the model (refresh sees it); two generations of parts are kept
    for _ in range(2):
        model.partial_fit(remote.to_csr()[:50])
        model.save(f"{s3_bucket}/model")
        assert loaded.refresh()
        np.testing.assert_array_equal(loaded.components_, model.components_)
    assert not loaded.refresh()
    names = [p.rsplit("/", 1)[1] for p in fsspec.filesystem("s3").ls(f"{s3_bucket}/model")]
    assert sorted(n.split("-")[0] for n in names) == ["arrays"] * 2 + ["model.json"] + [
        "vocabulary"] * 2

    # a corpus whose part changed on the store is refused, naming the object
    fs = fsspec.filesystem("s3")
    part = f"{url}/{remote.units[0].file}"
    data = bytearray(fs.cat_file(part))
    data[100] ^= 0xFF
    fs.pipe_file(part, bytes(data))
    with pytest.raises(CorpusError, match=f"row group 0 of {part} does not match"):
        ParquetCorpus(url).verify()
    fs.rm_file(f"{url}/manifest.json")
    with pytest.raises(CorpusError, match=f"{url}/manifest.json is missing"):
        ParquetCorpus(url)


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


@pytest.mark.distributed
@pytest.mark.timeout(600)  # seven command-line runs, one starting a cluster
def test_cli_ingest_train_resume_evaluate_report_on_s3(
    s3_bucket, s3_endpoint, dask_client, tmp_path, capsys
):
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

    # 6 minibatches per epoch: stop after 4 steps (on the local cluster train starts, its
    # workers inheriting the environment), then resume to the end of 2 epochs on the
    # shared test cluster (its workers given the environment)
    svi_lda_cli("train", corpus, *TRAIN, "--out", model, "--steps", "4",
                "--checkpoint-every", "2")
    checkpoint = svi_lda.load(f"{model}checkpoint")
    assert checkpoint.n_batch_iter_ == 4
    from pipelines.evaluate import main as evaluate
    from pipelines.report import main as report
    from pipelines.train import main as train

    assert train([corpus, *TRAIN, "--out", model, "--epochs", "2"]) == 2
    assert "--resume" in capsys.readouterr().err
    configure_workers(dask_client, s3_endpoint)
    try:
        resumed = svi_lda_cli("train", corpus, *TRAIN, "--out", model, "--epochs", "2",
                              "--resume", "--scheduler", dask_client.scheduler.address)
    finally:
        configure_workers(dask_client, None)
    assert "resuming" in resumed.stderr
    trained = svi_lda.load(model)
    reference = OnlineLDA(n_components=4, batch_size=40, random_state=3, max_iter=2)
    reference.fit(tmp_path / "corpus")
    assert trained.n_batch_iter_ == reference.n_batch_iter_ == 12
    np.testing.assert_array_equal(trained.components_, reference.components_)
    assert trained.load_extra_["corpus"] == corpus.rstrip("/")

    # the other commands in this process (their argument parsing is what differs)
    assert evaluate([model, corpus, "--json", str(tmp_path / "eval.json")]) == 0
    figures = json.loads((tmp_path / "eval.json").read_text())
    # the model records the corpus URL it was trained on: these are training figures
    assert figures["held_out"] is False and corpus.rstrip("/") in figures["held_out_reason"]
    page = tmp_path / "report.html"
    assert report([model, "--corpus", corpus, "--out", str(page)]) == 0
    assert page.stat().st_size > 1000


def test_cli_stream_once_from_an_s3_inbox_sets_bad_files_aside(s3_bucket, tmp_path):
    import fsspec

    fs = fsspec.filesystem("s3")
    inbox, model = f"{s3_bucket}/inbox", f"{s3_bucket}/smodel"
    docs = write_documents(tmp_path / "docs", n_files=2, per_file=60, seed=1)
    for f in sorted(docs.iterdir()):
        fs.put_file(str(f), f"{inbox}/{f.name}")
    import gzip

    rng = np.random.default_rng(0)
    table = "text\n" + "".join(" ".join(f"w{i}" for i in rng.integers(0, 500, 30)) + "\n"
                               for _ in range(60))
    payload = gzip.compress(table.encode())
    fs.pipe_file(f"{inbox}/zz-broken.tsv.gz", payload[: len(payload) // 2])  # truncated
    fs.pipe_file(f"{inbox}/zz-unknown.bin", b"\x00\x01")
    run = svi_lda_cli("stream", inbox + "/", "--model", model + "/", "--topics", "3",
                      "--once", "--batch-size", "40")
    assert "set aside: zz-broken.tsv.gz: " in run.stderr
    assert "set aside: zz-unknown.bin: unknown format" in run.stderr
    assert "from 4 files" in run.stderr
    trained = svi_lda.load(model)
    assert trained.load_extra_["stream"]["n_docs"] >= 120
    aside = sorted(fs.ls(f"{model}/rejected"))
    assert [a.rsplit("/", 1)[1] for a in aside] == ["zz-broken.tsv.gz.jsonl",
                                                   "zz-unknown.bin.jsonl"]
    assert "unknown format" in fs.cat_file(f"{model}/rejected/zz-unknown.bin.jsonl").decode()
    broken = json.loads(fs.cat_file(f"{model}/rejected/zz-broken.tsv.gz.jsonl"))
    # named as in the inbox, not by the local copy it was read from
    assert broken["reason"].startswith("zz-broken.tsv.gz: "), broken
    # the files stay in the inbox, as locally; a second --once takes nothing new
    assert fs.isfile(f"{inbox}/zz-broken.tsv.gz")
    again = svi_lda_cli("stream", inbox, "--model", model, "--once")
    assert "from 4 files" in again.stderr
    assert svi_lda.load(model).n_batch_iter_ == trained.n_batch_iter_


@pytest.mark.distributed
def test_fit_distributed_reads_row_groups_from_s3_on_the_workers(
    dask_client, s3_bucket, s3_endpoint, local_corpus
):
    from svi_lda.distributed import fit_distributed

    url = f"{s3_bucket}/corpus"
    upload_folder(local_corpus, url)
    params = dict(n_components=4, batch_size=100, random_state=5, max_iter=2)
    with workers_on_s3(dask_client, s3_endpoint):
        model = fit_distributed(dask_client, OnlineLDA(**params), url,
                                checkpoint_dir=f"{s3_bucket}/ckpt", checkpoint_every=3)
        reads = dask_client.run(lambda: __import__("os").environ.get("FSSPEC_S3_ENDPOINT_URL"))
    assert set(reads.values()) == {s3_endpoint}
    reference = OnlineLDA(**params).fit(local_corpus)
    np.testing.assert_array_equal(model.components_, reference.components_)
    checkpoint = svi_lda.load(f"{s3_bucket}/ckpt")
    assert checkpoint.n_batch_iter_ == reference.n_batch_iter_
    np.testing.assert_array_equal(checkpoint.components_, reference.components_)


# -- a model folder that is not whole is refused ------------------------------------------
def test_a_model_on_s3_with_a_missing_manifest_or_a_corrupt_part_is_refused(
    s3_bucket, local_corpus
):
    import fsspec

    fs = fsspec.filesystem("s3")
    model = OnlineLDA(n_components=3, batch_size=200, random_state=0, max_iter=1)
    model.fit(local_corpus)
    for name in ("torn", "nomanifest", "missing"):
        model.save(f"{s3_bucket}/{name}")
    def part(folder: str, prefix: str) -> str:
        return next(p.rsplit("/", 1)[1] for p in fs.ls(f"{s3_bucket}/{folder}")
                    if p.rsplit("/", 1)[1].startswith(prefix))

    arrays, vocabulary = part("torn", "arrays-"), part("missing", "vocabulary-")

    # a flipped byte in a part (an upload that went wrong, or a replaced object)
    data = bytearray(fs.cat_file(f"{s3_bucket}/torn/{arrays}"))
    data[len(data) // 2] ^= 0xFF
    fs.pipe_file(f"{s3_bucket}/torn/{arrays}", bytes(data))
    # a save interrupted before its manifest: the parts are there, model.json is not
    fs.rm_file(f"{s3_bucket}/nomanifest/model.json")
    # a part that never arrived
    fs.rm_file(f"{s3_bucket}/missing/{vocabulary}")

    cases = {
        "torn": f"{s3_bucket}/torn/{arrays} does not match the checksum",
        "nomanifest": f"{s3_bucket}/nomanifest is not an svi-lda model folder: model.json is "
                      "missing",
        "missing": f"the vocabulary file '{vocabulary}' is missing",
    }
    for name, message in cases.items():
        with pytest.raises(ModelFileError) as info:
            svi_lda.load(f"{s3_bucket}/{name}")
        assert message in str(info.value) and "\n" not in str(info.value)
    run = svi_lda_cli("report", f"{s3_bucket}/torn", "--out", "/dev/null", check=False)
    assert run.returncode != 0 and cases["torn"] in run.stderr, run.stderr[-2000:]
    assert len([line for line in run.stderr.splitlines() if line.strip()]) == 1


def test_fit_in_process_checkpoints_to_s3_and_resumes(s3_bucket, local_corpus):
    """The default path of ``svi-lda train`` (no cluster) with corpus and checkpoint URLs:
    interrupted after 3 steps and resumed, it ends bitwise at ``fit``'s model."""
    from svi_lda.distributed import fit_in_process

    url = f"{s3_bucket}/corpus"
    upload_folder(local_corpus, url)
    params = dict(n_components=4, batch_size=100, random_state=5, max_iter=2)
    ckpt = f"{s3_bucket}/inproc-ckpt"
    fit_in_process(OnlineLDA(**params), url, n_steps=3, checkpoint_dir=ckpt)
    assert svi_lda.load(ckpt).n_batch_iter_ == 3
    model = fit_in_process(OnlineLDA(**params), url, checkpoint_dir=ckpt, resume=True)
    reference = OnlineLDA(**params).fit(local_corpus)
    assert model.n_batch_iter_ == reference.n_batch_iter_ > 3
    np.testing.assert_array_equal(model.components_, reference.components_)
    np.testing.assert_array_equal(svi_lda.load(ckpt).components_, reference.components_)
