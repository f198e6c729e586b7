"""The workers' cache of units read for a step (svi_lda.distributed.unit_cache).

Pure functions run here, in this process, as a worker would run them; the engine's use
of them on a real cluster is tested in tests/test_distributed.py.
"""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from svi_lda import OnlineLDA
from svi_lda.corpus import ParquetCorpus, from_csr, read_unit
from svi_lda.distributed import unit_cache
from svi_lda.distributed.tasks import load_unit, union_local_step_task
from svi_lda.methods import get_method
from svi_lda.step import EStepSettings
from svi_lda.synthetic import make_lda_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> ParquetCorpus:
    syn = make_lda_corpus(120, 80, 3, doc_length=20, seed=5)
    path = tmp_path_factory.mktemp("cache") / "corpus"
    return from_csr(syn.X, [f"w{i}" for i in range(80)], path, row_group_size=40)


def sources(corpus: ParquetCorpus, run: str) -> list[unit_cache.UnitSource]:
    return [unit_cache.UnitSource(run, str(corpus.path), u, corpus.n_features)
            for u in corpus.units]


def block_for(corpus: ParquetCorpus) -> tuple:
    model = OnlineLDA(n_components=3, random_state=0)
    from svi_lda.distributed import checkpoints

    checkpoints.start(model, corpus, None, False)
    union = np.arange(corpus.n_features)
    rows, shift = model.state_.exp_elog_beta_rows(union)
    return (rows, shift, union.astype(np.int32)), model.state_.alpha


def test_read_keeps_the_unit_and_returns_its_word_ids(corpus):
    run = uuid.uuid4().hex
    before = unit_cache.cached_units()
    for source in sources(corpus, run):
        ids = unit_cache.read_unit_ids(source)
        want = load_unit(str(corpus.path), source.unit, corpus.n_features).word_ids
        np.testing.assert_array_equal(ids, want)
        assert ids.dtype == np.int32
    assert unit_cache.cached_units() == before + len(corpus.units)
    assert unit_cache.drop_run(run) == len(corpus.units)
    assert unit_cache.cached_units() == before


def test_local_step_from_the_cache_or_from_a_fresh_read_is_bitwise_the_same(corpus):
    """A hit takes the unit out of the cache; a miss (another worker, a retry) reads it
    again: the statistics are bitwise those of the unit read directly."""
    block, alpha = block_for(corpus)
    settings = EStepSettings(seed=2)
    run = uuid.uuid4().hex
    srcs = sources(corpus, run)
    unit_cache.read_unit_ids(srcs[0])
    hit = unit_cache.cached_local_step("online", srcs[0], block, alpha, settings)
    assert unit_cache.drop_run(run) == 0  # taken out by its local step
    miss = unit_cache.cached_local_step("online", srcs[0], block, alpha, settings)
    direct = union_local_step_task(
        get_method("online").name,
        load_unit(str(corpus.path), srcs[0].unit, corpus.n_features), block, alpha, settings,
    )
    for got in (hit, miss):
        np.testing.assert_array_equal(got.word_ids, direct.word_ids)
        np.testing.assert_array_equal(got.sstats, direct.sstats)
        assert got.doc_bound == direct.doc_bound


def test_runs_do_not_share_units(corpus):
    """Same path and unit, another run: a different entry (a corpus rewritten at the same
    path between two runs is read afresh)."""
    a, b = uuid.uuid4().hex, uuid.uuid4().hex
    source_a, source_b = sources(corpus, a)[1], sources(corpus, b)[1]
    unit_cache.read_unit_ids(source_a)
    assert source_a.cache_key != source_b.cache_key
    assert unit_cache.drop_run(b) == 0
    assert unit_cache.drop_run(a) == 1


def test_the_cache_is_bounded_least_recently_used_first(corpus, monkeypatch):
    run = uuid.uuid4().hex
    srcs = sources(corpus, run)
    one = unit_cache._nbytes(load_unit(str(corpus.path), srcs[0].unit, corpus.n_features))
    from collections import OrderedDict

    monkeypatch.setattr(unit_cache, "_cache", OrderedDict())
    monkeypatch.setattr(unit_cache, "_cache_bytes", 0)
    monkeypatch.setattr(unit_cache, "CACHE_BYTES", int(one * 1.5))
    for source in srcs:
        unit_cache.read_unit_ids(source)
    # the others were evicted, oldest first
    assert list(unit_cache._cache) == [srcs[-1].cache_key]
    # an evicted unit is read again: the same documents
    settings = EStepSettings(seed=0)
    block, alpha = block_for(corpus)
    again = unit_cache.cached_local_step("online", srcs[0], block, alpha, settings)
    assert again.n_docs == read_unit(corpus.path, srcs[0].unit).n_docs


def test_seed_candidates_leave_the_unit_cached(corpus):
    from svi_lda.seeding import seed_candidates

    run = uuid.uuid4().hex
    source = sources(corpus, run)[2]
    got = unit_cache.cached_seed_candidates(source, 7, 3)
    want = seed_candidates(read_unit(corpus.path, source.unit, n_features=corpus.n_features),
                           7, 3)
    for name in ("keys", "doc_ids", "indptr", "indices", "counts"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name))
    assert unit_cache.drop_run(run) == 1


def test_the_next_pass_read_of_a_unit_does_not_take_this_pass_entry(corpus):
    """With one or two minibatches a pass, the next pass's read of a unit comes before
    this pass's local step has taken it: both entries are kept, so the local step hits
    (one key for both used to make it miss and read the unit again)."""
    block, alpha = block_for(corpus)
    run = uuid.uuid4().hex
    unit = corpus.units[0]
    this_pass, next_pass = (unit_cache.UnitSource(run, str(corpus.path), unit,
                                                  corpus.n_features, epoch)
                            for epoch in (0, 1))
    before = unit_cache.cached_units()
    unit_cache.read_unit_ids(this_pass)
    unit_cache.read_unit_ids(next_pass)
    assert unit_cache.cached_units() == before + 2
    unit_cache.cached_local_step("online", this_pass, block, alpha, EStepSettings(seed=2))
    assert unit_cache.cached_units() == before + 1  # next pass's entry is still there
    assert unit_cache.drop_run(run) == 1


def test_units_no_local_step_took_are_dropped_once_their_pass_is_past(corpus):
    """A unit read for a local step that ran elsewhere (stolen, moved) is never taken
    here: a read more than PASSES_IN_FLIGHT passes later drops it; entries of the passes
    still in flight stay."""
    run = uuid.uuid4().hex
    first, second = corpus.units[0], corpus.units[1]

    def source(unit, epoch):
        return unit_cache.UnitSource(run, str(corpus.path), unit, corpus.n_features, epoch)

    unit_cache.read_unit_ids(source(first, 0))  # its local step ran on another worker
    unit_cache.read_unit_ids(source(second, unit_cache.PASSES_IN_FLIGHT))
    assert unit_cache.drop_run(run) == 2  # pass 0 is still in flight: kept
    unit_cache.read_unit_ids(source(first, 0))
    unit_cache.read_unit_ids(source(second, unit_cache.PASSES_IN_FLIGHT + 1))
    assert unit_cache.drop_run(run) == 1  # pass 0 is past: dropped
