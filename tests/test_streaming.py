"""Streaming in one process: sources, rejects, vocabulary growth and its cap, the ordered
minibatches, the drift mode, partial_fit on raw text, memory."""

from __future__ import annotations

import gzip
import json
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import svi_lda
from svi_lda import OnlineLDA
from svi_lda.state import GlobalState
from svi_lda.streaming import Streamer, StreamError, StreamSettings, stream
from svi_lda.streaming.ledger import expected_checksum
from svi_lda.streaming.source import FolderSource
from svi_lda.streaming.vocabulary import GrowingVocabulary, is_free_slot
from svi_lda.text import Tokenizer
from tests.stream_helpers import (
    drifting_topics,
    lda_documents,
    matched_tv_distance,
    texts_of,
    topics_in_true_ids,
    write_jsonl,
    write_stream,
)

FRUIT = "apple banana cherry grape melon".split()
CARS = "car truck engine wheel road".split()
PETS = "cat dog mouse bird fish".split()


def _texts(n: int, seed: int = 0, words: tuple = (FRUIT, CARS, PETS), length: int = 12):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words[rng.integers(len(words))], length)) for _ in range(n)]


def _ledger(model_dir: Path) -> dict:
    return json.loads((model_dir / "model.json").read_text())["extra"]["stream"]


# -- GlobalState growth ---------------------------------------------------------------------
def test_grow_adds_prior_columns_and_keeps_the_rest():
    state = GlobalState.initialize(3, 5, alpha=np.full(3, 0.1), eta=0.2, seed=0)
    state.scale = 0.5
    before = state.lambda_()
    totals = state.topic_totals()
    for n in (1, 2, 2000):  # within spare capacity and past it
        state.grow(n)
    after = state.lambda_()
    assert after.shape == (3, 5 + 2003)
    np.testing.assert_array_equal(after[:, :5], before)
    np.testing.assert_array_equal(after[:, 5:], 0.2)
    np.testing.assert_allclose(state.topic_totals(), totals + 2003 * 0.2)


def test_reset_words_puts_columns_back_at_the_prior():
    state = GlobalState.initialize(3, 6, alpha=np.full(3, 0.1), eta=0.2, seed=0)
    state.reset_words(np.array([1, 4]))
    lam = state.lambda_()
    np.testing.assert_array_equal(lam[:, [1, 4]], 0.2)
    np.testing.assert_allclose(state.topic_sums, state.word_topic.sum(axis=0))


# -- vocabulary --------------------------------------------------------------------------------
def test_growing_vocabulary_cap_retires_rarest_and_reuses_their_ids():
    state = GlobalState.initialize(2, 4, alpha=np.full(2, 0.5), eta=0.1, seed=0)
    state.word_topic[:] = np.array([[5, 5], [0.1, 0.1], [3, 3], [0.2, 0.2]])
    state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)
    vocab = GrowingVocabulary(["a", "b", "c", "d"], Tokenizer(), max_size=5)
    ids = vocab.assign(["a", "e"], state)  # room for one: no pruning
    assert ids.tolist() == [0, 4] and len(vocab) == 5 and state.n_features == 5
    ids = vocab.assign(["c", "f", "g"], state)  # two new, no room: retire rarest
    # Rarest by decayed count: b (0.2), d (0.4), e (0: new, at the prior). Need 2 + headroom
    # 0 (int(0.1 * 5)): e and b go, lowest mass first; c is in the minibatch and stays.
    assert len(vocab) == 5 and state.n_features == 5
    assert vocab.words[0] == "a" and vocab.words[2] == "c"
    assert sorted(ids[1:].tolist()) == [1, 4]
    assert vocab.index["f"] in (1, 4) and vocab.index["g"] in (1, 4)
    assert "b" not in vocab.index and "e" not in vocab.index
    np.testing.assert_array_equal(state.word_topic[[1, 4]], 0)


def test_minibatch_larger_than_the_cap_drops_the_excess_words():
    vocab = GrowingVocabulary([], Tokenizer(), max_size=3)
    ids = vocab.assign(["a", "b", "c", "d", "e"], None)
    assert ids.tolist() == [0, 1, 2, -1, -1]


# -- the stream ----------------------------------------------------------------------------------
def test_stream_once_uses_every_document_once_in_order(tmp_path):
    texts = _texts(700)
    names = write_stream(tmp_path / "src", texts, 100)
    ledger = stream(tmp_path / "src", tmp_path / "model", n_components=3, once=True,
                    batch_size=64)
    assert ledger.done == names
    assert ledger.n_docs == 700
    assert ledger.checksum == expected_checksum((n, np.arange(100)) for n in names)
    model = svi_lda.load(tmp_path / "model")
    assert model.state_.n_docs_seen == 700
    assert model.state_.step == 11  # ten full minibatches of 64 and a final one of 60
    top = {w for topic in model.top_words(5) for w, _ in topic}
    assert top == set(FRUIT + CARS + PETS)
    theta = model.transform(["cat dog mouse bird", "car truck road"])
    assert theta.argmax(axis=1)[0] != theta.argmax(axis=1)[1]


def test_minibatches_do_not_depend_on_arrival_timing(tmp_path):
    """Files arriving one by one, each run stopping when the folder has no full minibatch,
    give the same model as all files at once: minibatches are cut from the document
    sequence, and a run's unfinished minibatch is left for the next run."""
    texts = _texts(600, seed=3)
    write_stream(tmp_path / "all", texts, 75)
    stream(tmp_path / "all", tmp_path / "m_all", n_components=3, once=True, batch_size=100)
    settings = StreamSettings(batch_size=100, snapshot_every=None, poll_seconds=0.01)
    for i in range(8):
        write_stream(tmp_path / "drip", texts[i * 75 : (i + 1) * 75], 75, first=i)
        streamer = Streamer(tmp_path / "drip", tmp_path / "m_drip", n_components=3,
                            settings=settings)
        if i < 7:
            streamer._stop = _StopWhenIdle()
        streamer.run(once=i == 7, handle_signals=False)
    a, b = svi_lda.load(tmp_path / "m_all"), svi_lda.load(tmp_path / "m_drip")
    assert a.state_.step == b.state_.step == 6
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    assert a.vocabulary_.words == b.vocabulary_.words
    assert _ledger(tmp_path / "m_all") == _ledger(tmp_path / "m_drip")


class _StopWhenIdle(threading.Event):
    """A stop flag that is raised the first time the streamer waits for more files."""

    def wait(self, timeout: float | None = None) -> bool:
        self.set()
        return True


def test_rejected_files_and_records_are_recorded_and_the_stream_goes_on(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    write_jsonl(src / "a.jsonl", _texts(30))
    good = [json.dumps({"text": t}) for t in _texts(20, seed=1)]
    bad_lines = good[:5] + ["{not json"] + good[5:12] + [json.dumps({"body": "x"})] + good[12:]
    (src / "b.jsonl").write_text("\n".join(bad_lines) + "\n")
    payload = gzip.compress(("text\n" + "\n".join(_texts(40, seed=2)) + "\n").encode())
    (src / "c.tsv.gz").write_bytes(payload[: len(payload) // 2])  # truncated
    pq.write_table(pa.table({"title": ["x", "y"]}), src / "d.parquet")  # wrong schema
    (src / "e.bin").write_bytes(b"\x00\x01")  # unknown format
    (src / "f.csv").write_text("id,text\n1,apple banana\n2,cat dog\n")
    ledger = stream(src, tmp_path / "model", n_components=3, once=True, batch_size=16)
    assert ledger.done == ["a.jsonl", "b.jsonl", "c.tsv.gz", "d.parquet", "e.bin", "f.csv"]
    rejected = tmp_path / "model" / "rejected"
    b = [json.loads(line) for line in (rejected / "b.jsonl.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"].split(":")[0]) for r in b] == [
        (6, "invalid JSON"), (14, "missing field 'text'")
    ]
    for name, reason in (("d.parquet", "no column 'text'"), ("e.bin", "unknown format"),
                         ("c.tsv.gz", "")):
        entries = [json.loads(x) for x in (rejected / f"{name}.jsonl").read_text().splitlines()]
        assert entries[-1]["rest_of_file"] is True and reason in entries[-1]["reason"], entries
    assert not (rejected / "a.jsonl.jsonl").exists()
    assert ledger.n_docs < 30 + 20 + 40 + 2  # the truncated file kept what it could read
    assert ledger.n_docs >= 30 + 18 + 2
    assert (src / "c.tsv.gz").exists() and (src / "e.bin").exists()


def test_a_truncated_jsonl_gz_is_set_aside_and_keeps_what_ingest_keeps(tmp_path):
    """A .jsonl.gz cut midway: its whole lines before the cut are streamed (as many as
    ``ingest`` keeps from the same file) and the loss is recorded under the file's name;
    one cut before its first whole piece gives no document but is still set aside."""
    from svi_lda.corpus import ingest

    src = tmp_path / "src"
    src.mkdir()
    for name, n in (("big.jsonl.gz", 4000), ("small.jsonl.gz", 40)):
        lines = "".join(json.dumps({"text": t}) + "\n" for t in _texts(n, seed=n))
        payload = gzip.compress(lines.encode())
        (src / name).write_bytes(payload[: len(payload) // 2])
    kept = ingest(src / "big.jsonl.gz", tmp_path / "corpus")
    assert 0 < kept.n_read < 4000 and len(kept.losses) == 1
    ledger = stream(src, tmp_path / "model", n_components=3, once=True, batch_size=64)
    assert ledger.done == ["big.jsonl.gz", "small.jsonl.gz"]
    assert ledger.n_docs == kept.n_read
    for name in ("big.jsonl.gz", "small.jsonl.gz"):
        path = tmp_path / "model" / "rejected" / f"{name}.jsonl"
        entries = [json.loads(x) for x in path.read_text().splitlines()]
        assert len(entries) == 1 and entries[0]["rest_of_file"] is True, entries
        reason = entries[0]["reason"]
        assert reason.startswith(f"{name}: the compressed file is truncated"), reason
        assert str(tmp_path) not in reason


def test_a_tsv_gz_cut_early_keeps_its_header_and_the_lines_before_the_cut(tmp_path):
    """A .tsv.gz cut within its first 64 KiB of text: the header and the whole lines
    before the cut are kept by ``ingest`` and the streamer alike (both used to refuse
    the file whole: the header was read in one 64 KiB read that ran into the cut)."""
    from svi_lda.corpus import ingest

    rng = np.random.default_rng(0)
    rows = [" ".join(f"w{i}" for i in rng.integers(0, 5000, 50)) for _ in range(2000)]
    payload = gzip.compress(("text\n" + "\n".join(rows) + "\n").encode())
    src = tmp_path / "src"
    src.mkdir()
    (src / "c.tsv.gz").write_bytes(payload[:20_000])
    kept = ingest(src / "c.tsv.gz", tmp_path / "corpus")
    assert 100 < kept.n_read < 2000 and len(kept.losses) == 1
    ledger = stream(src, tmp_path / "model", n_components=3, once=True, batch_size=64)
    assert ledger.n_docs == kept.n_read
    entry = json.loads((tmp_path / "model" / "rejected" / "c.tsv.gz.jsonl").read_text())
    assert entry["rest_of_file"] is True
    assert entry["reason"].startswith("c.tsv.gz: the compressed file is truncated"), entry


def test_stream_rejections_name_the_file_relative_to_the_source_folder(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    payload = gzip.compress(("text\n" + "\n".join(_texts(40, seed=2)) + "\n").encode())
    (src / "c.tsv.gz").write_bytes(payload[: len(payload) // 2])  # header unreadable
    write_jsonl(src / "d.jsonl", _texts(10))
    stream(src, tmp_path / "model", n_components=3, once=True, batch_size=16)
    entry = json.loads((tmp_path / "model" / "rejected" / "c.tsv.gz.jsonl").read_text())
    assert entry["reason"].startswith("c.tsv.gz: cannot read the header line")


def test_a_source_url_of_an_unknown_protocol_is_named_in_the_error(tmp_path):
    with pytest.raises(ValueError, match="cannot open nosuchprotocol://inbox: Protocol not"):
        FolderSource("nosuchprotocol://inbox")


def test_unpublished_names_and_corpus_metadata_are_not_documents(tmp_path):
    src = tmp_path / "src"
    write_stream(src, _texts(10), 10)
    (src / ".g.jsonl.tmp").write_text('{"text": "half writ')
    (src / "_h.jsonl").write_text('{"text": "apple"}\n')
    (src / "i.jsonl.tmp").write_text('{"text": "apple"}\n')
    assert [f.name for f in FolderSource(src).list_published()] == ["f00000.jsonl"]
    assert [f.name for f in FolderSource(f"file://{src}").list_published()] == ["f00000.jsonl"]


def test_corpus_parts_are_mapped_through_their_vocabulary(tmp_path):
    from svi_lda.corpus import ingest

    raw = tmp_path / "raw"
    write_stream(raw, _texts(300, seed=4), 300)
    ingest(raw, tmp_path / "corpus", row_group_size=50)
    corpus = svi_lda.ParquetCorpus(tmp_path / "corpus")
    ledger = stream(tmp_path / "corpus", tmp_path / "model", n_components=3, once=True,
                    batch_size=64)
    assert ledger.n_docs == corpus.n_docs == 300
    model = svi_lda.load(tmp_path / "model")
    assert set(model.vocabulary_.words) == set(corpus.vocabulary.words)
    # The model's counts are the corpus's counts, word by word, whatever the ids.
    mine = dict(zip(model.vocabulary_.words, model.vocabulary_.corpus_frequency, strict=True))
    theirs = dict(zip(corpus.vocabulary.words, corpus.vocabulary.corpus_frequency, strict=True))
    assert mine == theirs


def test_a_burst_about_a_new_word_makes_it_a_top_word_and_the_cap_holds(tmp_path):
    src = tmp_path / "src"
    rng = np.random.default_rng(5)
    rare = [f"rare{chr(97 + i)}{chr(97 + j)}" for i in range(20) for j in range(20)]
    first = [t + " " + " ".join(rng.choice(rare, 3)) for t in _texts(600, seed=5)]
    write_stream(src, first, 100)
    settings = dict(batch_size=50, max_vocabulary=120, once=True)
    sizes = []
    stream(src, tmp_path / "model", n_components=3, progress=lambda p: sizes.append(
        p.vocabulary_size), **settings)
    before = svi_lda.load(tmp_path / "model")
    burst = [" ".join(rng.choice(["zyzzyva"] * 6 + PETS, 12)) for _ in range(300)]
    write_stream(src, burst, 100, first=6)
    stream(src, tmp_path / "model", progress=lambda p: sizes.append(p.vocabulary_size),
           **settings)
    after = svi_lda.load(tmp_path / "model")
    assert max(sizes) <= 120 and after.n_features_in_ <= 120
    assert any(w == "zyzzyva" for topic in after.top_words(3) for w, _ in topic)
    old = {w: i for i, w in enumerate(before.vocabulary_.words) if not is_free_slot(w)}
    new = {w: i for i, w in enumerate(after.vocabulary_.words) if not is_free_slot(w)}
    survivors = set(old) & set(new)
    assert set(FRUIT + CARS + PETS) <= survivors
    assert all(old[w] == new[w] for w in survivors)  # no surviving word was renumbered
    assert len(set(old) - set(new)) > 0  # the cap retired some rare words


def test_drift_mode_follows_topics_that_change_half_way(tmp_path):
    """Halfway the topics move half their mass to other words. At the end, the drift mode's
    mean total-variation distance to the new topics (Hungarian matching) is at most half
    the default's. Measured with seeds 0, 1, 3: ratios 0.40, 0.15, 0.12."""
    k, v = 5, 300
    before, after = drifting_topics(k, v, seed=0)
    names = write_stream(tmp_path / "src", texts_of(lda_documents(before, 4000, seed=1)), 500)
    write_stream(tmp_path / "src", texts_of(lda_documents(after, 4000, seed=2)), 500,
                 first=len(names))
    distance = {}
    for mode in ("stationary", "drift"):
        stream(tmp_path / "src", tmp_path / mode, n_components=k, once=True, batch_size=100,
               schedule=mode, drift_window=1000, snapshot_every=None)
        estimated = topics_in_true_ids(svi_lda.load(tmp_path / mode), v)
        distance[mode] = matched_tv_distance(estimated, after)
    assert distance["drift"] <= 0.5 * distance["stationary"], distance


def test_memory_stays_flat_over_a_long_stream(tmp_path):
    psutil = pytest.importorskip("psutil")
    words = [f"w{chr(97 + i)}{chr(97 + j)}" for i in range(26) for j in range(26)]
    rng = np.random.default_rng(0)
    src = tmp_path / "src"
    src.mkdir()
    for f in range(60):
        write_jsonl(src / f"f{f:04d}.jsonl", [" ".join(rng.choice(words, 30)) for _ in range(250)])
    process = psutil.Process()
    rss = []
    stream(src, tmp_path / "model", n_components=10, once=True, batch_size=250,
           snapshot_every=10, progress=lambda p: rss.append(process.memory_info().rss))
    assert len(rss) == 60
    early, late = max(rss[10:20]), max(rss[40:])
    assert late - early < 16 << 20, (early >> 20, late >> 20)


def test_partial_fit_on_raw_text_grows_the_vocabulary():
    model = OnlineLDA(3, random_state=0, total_samples=1000)
    model.partial_fit(_texts(50))
    words = list(model.vocabulary_.words)
    assert model.n_features_in_ == len(words) == 15
    model.partial_fit(["zebra cat dog", "kiwi apple"])
    assert model.vocabulary_.words[:15] == words  # old ids unchanged
    assert model.vocabulary_.words[15:] == ["zebra", "kiwi"]
    assert model.components_.shape == (3, 17)
    np.testing.assert_allclose(model.transform(["zebra kiwi"]).sum(), 1.0)
    assert model.state_.n_docs_seen == 52


def test_partial_fit_texts_on_a_model_fitted_with_a_vocabulary(tmp_path):
    from svi_lda.corpus import ingest

    write_stream(tmp_path / "raw", _texts(200), 200)
    ingest(tmp_path / "raw", tmp_path / "corpus")
    model = OnlineLDA(3, random_state=0, max_iter=2).fit(tmp_path / "corpus")
    n = model.n_features_in_
    lam = model.components_
    model.partial_fit(["apple quokka"])  # total_samples None: scikit-learn's 1e6
    assert model.n_features_in_ == n + 1 and model.vocabulary_.words[-1] == "quokka"
    assert model.components_[:, :n].shape == lam.shape


def test_e_steps_on_a_dask_cluster_give_the_same_model(tmp_path, dask_client):
    texts = _texts(1300, seed=6)
    write_stream(tmp_path / "src", texts, 250)
    settings = dict(once=True, batch_size=600, max_vocabulary=14, n_components=3)
    stream(tmp_path / "src", tmp_path / "local", **settings)
    stream(tmp_path / "src", tmp_path / "dask", client=dask_client, **settings)
    a, b = svi_lda.load(tmp_path / "local"), svi_lda.load(tmp_path / "dask")
    assert a.state_.step == b.state_.step == 3  # minibatches of two units each
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    assert a.vocabulary_ == b.vocabulary_
    assert a.history_["figure"] == b.history_["figure"]


def test_one_writer_per_model_folder(tmp_path):
    write_stream(tmp_path / "src", _texts(20), 20)
    first = Streamer(tmp_path / "src", tmp_path / "model", n_components=3)
    first._acquire_lock()
    try:
        with pytest.raises(StreamError, match="another streamer is writing"):
            Streamer(tmp_path / "src", tmp_path / "model", n_components=3).run(once=True)
    finally:
        first._release_lock()
    Streamer(tmp_path / "src", tmp_path / "model", n_components=3).run(once=True)


def test_a_source_on_another_fsspec_filesystem(tmp_path):
    """The source is read through fsspec: an in-memory filesystem stands in for an object
    store (a remote file is copied to a temporary local file while it is read)."""
    import fsspec

    fs = fsspec.filesystem("memory")
    folder = f"/inbox-{tmp_path.name}"
    fs.mkdir(folder)
    texts = _texts(60)
    for i in range(3):
        with fs.open(f"{folder}/f{i}.jsonl", "w") as fh:
            fh.write("".join(json.dumps({"text": t}) + "\n" for t in texts[i * 20 : (i + 1) * 20]))
    with fs.open(f"{folder}/.f3.jsonl.tmp", "w") as fh:
        fh.write('{"text": "unfinished')
    ledger = stream(f"memory://{folder}", tmp_path / "model", n_components=3, once=True,
                    batch_size=16)
    assert ledger.done == ["f0.jsonl", "f1.jsonl", "f2.jsonl"] and ledger.n_docs == 60
    fs.rm(folder, recursive=True)
