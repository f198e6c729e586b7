"""Corpora and models on an object store: a real S3-compatible server (moto's server mode,
on loopback), reached through s3fs exactly as a user's S3 bucket would be."""

from __future__ import annotations

import numpy as np
import pytest

import svi_lda
from svi_lda import OnlineLDA
from svi_lda.corpus import ParquetCorpus, from_csr
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
