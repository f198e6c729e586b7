"""Sharded training with its checkpoint on an object store (a real S3-compatible server
on loopback, moto in server mode): the workers upload their parts, the coordinator writes
the manifest last, and a resume from the URL is bitwise the uninterrupted run."""

from __future__ import annotations

import numpy as np
import pytest
from test_object_storage import configure_workers
from test_sharded import PARAMS, assert_same_model, make_corpus

from svi_lda import OnlineLDA

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("sharded-s3") / "corpus")


@pytest.fixture
def s3_workers(dask_client, s3_bucket, s3_endpoint):
    """The shared cluster's workers reach the test server as a deployment's would."""
    configure_workers(dask_client, s3_endpoint)
    yield s3_bucket
    configure_workers(dask_client, None)


def test_sharded_checkpoint_at_a_url_resumes_bitwise(dask_client, corpus, s3_workers):
    import fsspec

    from svi_lda.distributed import fit_distributed
    from svi_lda.distributed.sharded import load_sharded_model

    reference = OnlineLDA(**PARAMS).fit(corpus)
    url = f"{s3_workers}/ckpt"
    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=4, sharded=True,
                    checkpoint_dir=url, checkpoint_every=3)
    fs = fsspec.filesystem("s3")
    fs.invalidate_cache()
    names = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(url.removeprefix("s3://")))
    assert names == ["coordinator.step4.npz", "part-00000-of-00002.step4.npy",
                     "part-00001-of-00002.step4.npy", "sharded.json"]
    assert load_sharded_model(url).n_batch_iter_ == 4
    resumed = fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=url,
                              resume=True)
    assert_same_model(resumed, reference)
    assert resumed.history_["step"] == reference.history_["step"]
    assert_same_model(load_sharded_model(url), reference)


def test_a_damaged_part_at_a_url_is_refused(dask_client, corpus, s3_workers):
    import fsspec

    from svi_lda.distributed import CheckpointError, fit_distributed

    url = f"{s3_workers}/ckpt"
    fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, n_steps=2, sharded=True,
                    checkpoint_dir=url)
    fs = fsspec.filesystem("s3")
    part = f"{url}/part-00001-of-00002.step2.npy".removeprefix("s3://")
    data = fs.cat_file(part)
    fs.pipe_file(part, data[:-8] + b"\0" * 8)
    with pytest.raises(CheckpointError, match="differ from the manifest's sha256"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=url,
                        resume=True)
    fs.rm_file(part)
    with pytest.raises(CheckpointError, match=r"incomplete: part-00001-of-00002\.step2\.npy "
                                              "is missing"):
        fit_distributed(dask_client, OnlineLDA(**PARAMS), corpus, checkpoint_dir=url,
                        resume=True)


def test_train_cli_sharded_with_a_url_out(dask_client, corpus, s3_workers):
    from pipelines.train import main
    from svi_lda.estimator import load_model

    out = f"{s3_workers}/model"
    args = [str(corpus.path), "--topics", "5", "--out", out, "--batch-size", "200",
            "--seed", "7", "--alpha", "auto", "--epochs", "1", "--sharded",
            "--scheduler", dask_client.scheduler.address]
    assert main(args) == 0
    reference = OnlineLDA(**{**PARAMS, "max_iter": 1}).fit(corpus)
    np.testing.assert_array_equal(load_model(out).components_, reference.components_)
    assert main(args) == 2  # the sharded checkpoint at the URL is not silently discarded
