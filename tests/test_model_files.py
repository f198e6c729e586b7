"""Untrusted model files: tampering with checksums recomputed, fuzzing, format versions,
optional attributes, refresh, and readers racing a writer that saves (and is killed)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import svi_lda
from svi_lda import ModelFileError, OnlineLDA
from svi_lda.persistence import HISTORY_KEYS
from svi_lda.synthetic import make_lda_corpus
from svi_lda.text import Tokenizer, Vocabulary
from tests.test_persistence import edit_manifest, rehash

K, V = 4, 150
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def X():
    return make_lda_corpus(240, V, K, doc_length=30, seed=21).X


def trained(X, n_steps=2, **kw):
    model = OnlineLDA(K, total_samples=240, batch_size=60, random_state=7, n_jobs=1, **kw)
    for i in range(n_steps):
        model.partial_fit(X[60 * i : 60 * i + 60])
    return model


def manifest_of(folder: Path) -> dict:
    return json.loads((folder / "model.json").read_text())


def arrays_path(folder: Path) -> Path:
    return folder / manifest_of(folder)["arrays"]["file"]


def read_npz(folder: Path) -> dict:
    with np.load(arrays_path(folder), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def rewrite_arrays(folder: Path, edit) -> None:
    """Change the arrays file, then make every checksum match again."""
    arrays = read_npz(folder)
    edit(arrays)
    with open(arrays_path(folder), "wb") as fh:
        np.savez(fh, **arrays)
    rehash(folder)


def set_word_topic(folder: Path, value: float) -> None:
    """word_topic[0, 0] = value with topic_sums kept consistent (only lambda is wrong)."""

    def edit(a):
        a["word_topic"][0, 0] = value
        a["topic_sums"] = a["word_topic"].sum(axis=0, dtype=np.float64)

    rewrite_arrays(folder, edit)


def huge_header(folder: Path) -> None:
    """A word_topic member whose header claims 1e9 rows (and holds a few bytes)."""
    arrays = read_npz(folder)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f4", "fortran_order": False, "shape": (10**9, K)}
    )
    buf.write(b"\0" * 64)
    with zipfile.ZipFile(arrays_path(folder), "w") as zf:
        zf.writestr("word_topic.npy", buf.getvalue())
        for name in ("topic_sums", "alpha"):
            member = io.BytesIO()
            np.save(member, arrays[name])
            zf.writestr(f"{name}.npy", member.getvalue())
    rehash(folder)


def symlink_outside(folder: Path) -> None:
    target = arrays_path(folder)
    outside = folder.parent / "outside.npz"
    shutil.move(target, outside)
    target.symlink_to(outside)


def other_vocabulary_file(folder: Path) -> None:
    manifest = manifest_of(folder)
    Vocabulary([f"w{i}" for i in range(V - 1)], tokenizer=Tokenizer()).save(
        folder / manifest["vocabulary"]["file"]
    )
    rehash(folder)


def flip_manifest_byte(folder: Path) -> None:
    text = (folder / "model.json").read_text()
    at = text.index('"step": ') + len('"step": ')
    (folder / "model.json").write_text(text[:at] + "9" + text[at + 1 :])


# Each entry: a tampering that keeps (or recomputes) every checksum; load must refuse it.
TAMPERED = {
    "vocabulary words of another length": lambda f: rewrite_arrays(
        f, lambda a: a.update(words=np.array([f"w{i}" for i in range(V + 1)]))
    ),
    "vocabulary file of another length": other_vocabulary_file,
    "eta NaN": lambda f: edit_manifest(f, lambda m: m["state"].update(eta=float("nan"))),
    "scale infinite": lambda f: edit_manifest(f, lambda m: m["state"].update(scale=float("inf"))),
    "eta negative": lambda f: edit_manifest(f, lambda m: m["state"].update(eta=-1.0)),
    "lambda not positive": lambda f: set_word_topic(f, -100.0),
    "topic_sums inconsistent": lambda f: rewrite_arrays(
        f, lambda a: a.update(topic_sums=a["topic_sums"] * 1.5)
    ),
    "word_topic int64": lambda f: rewrite_arrays(
        f, lambda a: a.update(word_topic=a["word_topic"].astype(np.int64))
    ),
    "word_topic complex": lambda f: rewrite_arrays(
        f, lambda a: a.update(word_topic=a["word_topic"].astype(np.complex128))
    ),
    "n_components disagrees": lambda f: edit_manifest(
        f, lambda m: m["params"].update(n_components=K + 1)
    ),
    "n_components a string": lambda f: edit_manifest(
        f, lambda m: m["params"].update(n_components=str(K))
    ),
    "unknown param": lambda f: edit_manifest(f, lambda m: m["params"].update(evil=1)),
    "invalid param value": lambda f: edit_manifest(
        f, lambda m: m["params"].update(learning_decay=2.0)
    ),
    "unknown learning_method": lambda f: edit_manifest(
        f, lambda m: m["params"].update(learning_method="bogus")
    ),
    "negative prior list": lambda f: edit_manifest(
        f, lambda m: m["params"].update(doc_topic_prior=[-1.0] * K)
    ),
    "corrupt zip": lambda f: (arrays_path(f).write_bytes(b"PK\x03\x04" + b"\x00" * 60), rehash(f)),
    "header claiming 1e9 rows": huge_header,
    "extra member in arrays": lambda f: rewrite_arrays(
        f, lambda a: a.update(payload=np.zeros(3))
    ),
    "history of unequal lengths": lambda f: rewrite_arrays(
        f, lambda a: a.update({f"history_{k}": np.zeros(2 + (k == "rho")) for k in HISTORY_KEYS})
    ),
    "negative term frequency": lambda f: rewrite_arrays(
        f, lambda a: a.update(term_frequency=-np.ones(V))
    ),
    "arrays symlinked outside the folder": symlink_outside,
    "negative seed": lambda f: edit_manifest(f, lambda m: m["state"].update(random_seed=-5)),
    "figure_label_ not a string": lambda f: edit_manifest(
        f, lambda m: m["attributes"].update(figure_label_=[1])
    ),
    "byte changed inside model.json": flip_manifest_byte,
}


@pytest.mark.parametrize("case", list(TAMPERED))
def test_tampered_models_raise_model_file_error(X, tmp_path, case):
    model = trained(X)
    if case == "vocabulary file of another length":
        model.vocabulary_ = Vocabulary([f"w{i}" for i in range(V)], tokenizer=Tokenizer())
    model.save(tmp_path / "m")
    TAMPERED[case](tmp_path / "m")
    with pytest.raises(ModelFileError) as info:
        svi_lda.load(tmp_path / "m")
    assert str(tmp_path / "m") in str(info.value)


def test_slightly_negative_word_topic_is_legitimate(X, tmp_path):
    model = trained(X)
    model.save(tmp_path / "m")
    eta, scale = model.state_.eta, model.state_.scale
    set_word_topic(tmp_path / "m", -0.5 * eta / scale)  # lambda = eta / 2 > 0
    loaded = svi_lda.load(tmp_path / "m")
    assert loaded.components_[0, 0] == pytest.approx(eta / 2)


def write_v1(model: OnlineLDA, folder: Path) -> None:
    """The version-1 layout: arrays-<step>-<id>.npz and a model.json without checksum."""
    model.save(folder)
    manifest = manifest_of(folder)
    arrays = read_npz(folder)
    for path in folder.glob("arrays-*.npz"):
        path.unlink()
    name = f"arrays-{model.state_.step:010d}-0badc0de.npz"
    with open(folder / name, "wb") as fh:
        np.savez(fh, **{k: arrays[k] for k in ("word_topic", "topic_sums", "alpha", "words")
                        if k in arrays})
    v1 = {k: manifest[k] for k in ("format", "params", "state", "arrays", "vocabulary", "extra")}
    v1["format_version"] = 1
    v1["arrays"] = {"file": name, "sha256": ""}
    (folder / "model.json").write_text(json.dumps(v1, indent=1))
    rehash(folder)


def test_version_1_folders_still_load(X, tmp_path):
    model = trained(X, 3)
    model.vocabulary_ = [f"w{i}" for i in range(V)]
    write_v1(model, tmp_path / "m")
    assert manifest_of(tmp_path / "m")["format_version"] == 1
    loaded = svi_lda.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.components_, model.components_)
    assert loaded.vocabulary_ == model.vocabulary_ and loaded.bound_history_ == []
    loaded.save(tmp_path / "m")  # re-saved as version 2
    assert manifest_of(tmp_path / "m")["format_version"] == 2
    np.testing.assert_array_equal(svi_lda.load(tmp_path / "m").components_, model.components_)


def test_optional_attributes_round_trip(X, tmp_path):
    model = trained(X, 3)
    assert len(model.bound_history_) == 3
    model.history_ = {k: [float(i), i + 0.5] for i, k in enumerate(HISTORY_KEYS)}
    model.figure_label_ = "held-out perplexity"
    model.term_frequency_ = np.arange(V, dtype=np.float64)
    model.topic_token_counts_ = np.full(K, 2.5)
    model.topic_doc_counts_ = np.ones(K)
    model.save(tmp_path / "m")
    loaded = svi_lda.load(tmp_path / "m")
    assert loaded.bound_history_ == model.bound_history_
    assert loaded.history_ == model.history_ and loaded.figure_label_ == model.figure_label_
    for name in ("term_frequency_", "topic_token_counts_", "topic_doc_counts_"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name))
    bare = trained(X, 1)
    for name in ("history_", "figure_label_", "term_frequency_", "topic_token_counts_",
                 "topic_doc_counts_"):  # a fit records them (run loop): drop them here
        bare.__dict__.pop(name, None)
    bare.save(tmp_path / "bare")
    loaded = svi_lda.load(tmp_path / "bare")
    # Files without records: the loaded model starts them empty (the run loop's records).
    assert loaded.history_["step"] == [] and not loaded.term_frequency_.any()


def test_malformed_attributes_are_refused_at_save(X, tmp_path):
    model = trained(X)
    model.history_ = {"step": [1.0]}
    with pytest.raises(ValueError, match="history_"):
        model.save(tmp_path / "m")
    assert not (tmp_path / "m" / "model.json").exists()


def test_non_finite_state_is_refused_at_save(X, tmp_path):
    model = trained(X)
    model.state_.word_topic[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.save(tmp_path / "m")


@pytest.mark.parametrize("method", ["online", "batch", "cvb0", "scvb0"])
def test_saved_learning_method_is_validated_by_the_estimator(X, tmp_path, method):
    accepted = True
    try:
        OnlineLDA(K, learning_method=method)._check_params()
    except ValueError:
        accepted = False
    trained(X).save(tmp_path / "m")
    edit_manifest(tmp_path / "m", lambda m: m["params"].update(learning_method=method))
    if accepted:
        assert svi_lda.load(tmp_path / "m").learning_method == method
    else:
        with pytest.raises(ModelFileError, match="learning_method"):
            svi_lda.load(tmp_path / "m")


def test_refresh_reloads_only_newer_saves(X, tmp_path):
    writer = trained(X, 1)
    writer.save(tmp_path / "m")
    reader = svi_lda.load(tmp_path / "m")
    assert reader.refresh() is False
    writer.partial_fit(X[60:120])
    writer.save(tmp_path / "m")
    assert reader.refresh() is True
    np.testing.assert_array_equal(reader.components_, writer.components_)
    assert reader.n_batch_iter_ == 2 and reader.refresh() is False
    with pytest.raises(ValueError, match="loaded"):
        trained(X, 1).refresh()


def test_stale_temporaries_are_removed_on_save(X, tmp_path):
    from svi_lda._atomic import temporary_name

    folder = tmp_path / "m"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / temporary_name("model.json").replace(f".{os.getpid()}.", f".{dead.pid}.")
    live = folder / temporary_name("arrays-x.npz")  # this process: still writing
    old = folder / ".arrays-y.npz.0123456789abcdef.tmp"  # version-1 name, a day old
    for p in (stale, live, old):
        p.write_bytes(b"partial")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    trained(X).save(folder)
    assert live.exists() and not stale.exists() and not old.exists()


# -- fuzzing -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pristine(X, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pristine") / "m"
    model = trained(X, 2)
    model.vocabulary_ = Vocabulary([f"w{i}" for i in range(V)], tokenizer=Tokenizer())
    model.save(folder)
    return folder, model


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_model_folders_load_correctly_or_fail_clearly(pristine, data):
    folder, model = pristine
    names = sorted(p.name for p in folder.iterdir())
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "m"
        shutil.copytree(folder, copy)
        name = data.draw(st.sampled_from(names), label="file")
        raw = bytearray((copy / name).read_bytes())
        if data.draw(st.booleans(), label="truncate"):
            raw = raw[: data.draw(st.integers(0, len(raw) - 1), label="length")]
        else:
            for _ in range(data.draw(st.integers(1, 3), label="flips")):
                at = data.draw(st.integers(0, len(raw) - 1), label="at")
                raw[at] ^= data.draw(st.integers(1, 255), label="xor")
        (copy / name).write_bytes(bytes(raw))
        try:
            loaded = svi_lda.load(copy)
        except ModelFileError:
            return
        np.testing.assert_array_equal(loaded.components_, model.components_)
        np.testing.assert_array_equal(loaded.doc_topic_prior_, model.doc_topic_prior_)
        assert loaded.vocabulary_.words == model.vocabulary_.words
        assert loaded.get_params() == model.get_params()


# -- a reader racing a writer that saves repeatedly and is killed mid-save ------------------------
_WRITER = """
import sys, numpy as np
from pathlib import Path
from svi_lda import OnlineLDA
from svi_lda.state import GlobalState
folder, first = Path(sys.argv[1]), int(sys.argv[2])
V, K = 20000, 20
model = OnlineLDA(K, random_state=0, dtype="float64")
model.random_seed_, model.n_features_in_, model.n_iter_ = 0, V, 0
model.bound_history_ = []
for step in range(first, first + 100000):
    w = np.full((V, K), float(step % 1000 + 1))
    model.state_ = GlobalState(w, 1.0, w.sum(axis=0), np.full(K, 0.1), 0.05, step, step)
    model.save(folder)
    print(step, flush=True)
"""

_READER = """
import sys, time, numpy as np
from pathlib import Path
import svi_lda
folder, seconds = Path(sys.argv[1]), float(sys.argv[2])
end, loads, steps = time.time() + seconds, 0, set()
while time.time() < end:
    m = svi_lda.load(folder)  # any exception fails the test
    s = m.state_
    assert np.all(s.word_topic == s.step % 1000 + 1), "mixed or partial model"
    assert s.topic_sums[0] == s.word_topic[:, 0].sum()
    loads += 1
    steps.add(s.step)
print(loads, len(steps))
"""


def test_reader_always_gets_a_complete_model_while_a_writer_saves_and_is_killed(tmp_path):
    folder = tmp_path / "m"
    env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_NUM_THREADS": "1"}

    def writer(first: int) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(folder), str(first)],
            stdout=subprocess.PIPE, text=True, env=env,
        )
        assert proc.stdout.readline()  # one save completed
        return proc

    first = writer(0)
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(folder), "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    time.sleep(1.5)
    first.send_signal(signal.SIGKILL)  # saves take most of its loop: almost surely mid-save
    first.wait()
    second = writer(500)
    # The killed writer's temporary files were removed by the next save.
    assert not [p for p in folder.iterdir() if f".{first.pid}." in p.name]
    out, err = reader.communicate(timeout=120)
    second.send_signal(signal.SIGKILL)
    second.wait()
    assert reader.returncode == 0, err
    loads, distinct = map(int, out.split())
    assert loads >= 5 and distinct >= 2
    model = svi_lda.load(folder)
    assert np.all(model.state_.word_topic == model.state_.step % 1000 + 1)


def _vocabulary_with_pattern(folder: Path, pattern: str) -> None:
    """Rewrite the model's vocabulary file with another token pattern in its metadata."""
    import pyarrow.parquet as pq

    path = folder / manifest_of(folder)["vocabulary"]["file"]
    table = pq.read_table(path)
    meta = dict(table.schema.metadata)
    settings = json.loads(meta[b"svi_lda.tokenizer"])
    settings["token_pattern"] = pattern
    meta[b"svi_lda.tokenizer"] = json.dumps(settings).encode()
    pq.write_table(table.replace_schema_metadata(meta), path)
    rehash(folder)


def test_crafted_token_patterns_cannot_hang_or_load(X, tmp_path):
    model = trained(X)
    model.vocabulary_ = Vocabulary(["a" * (i + 1) for i in range(V)], tokenizer=Tokenizer())
    model.save(tmp_path / "m")
    _vocabulary_with_pattern(tmp_path / "m", r"(a+)+$")
    loaded = svi_lda.load(tmp_path / "m")
    started = time.perf_counter()
    theta = loaded.transform(["b" + "a" * 30 + "!", "a" * 20000 + "!"])
    assert time.perf_counter() - started < 5.0  # Python's re: about 2**30 steps
    np.testing.assert_allclose(theta.sum(axis=1), 1.0)
    _vocabulary_with_pattern(tmp_path / "m", r"(a)\1")  # RE2 has no backreferences
    with pytest.raises(ModelFileError, match="vocabulary"):
        svi_lda.load(tmp_path / "m")


@pytest.mark.parametrize("flag", [0x1, 0x20, 0x40])
def test_an_arrays_member_marked_encrypted_or_patched_is_refused_by_name(flag):
    """Zip flag bits a model file never sets (encrypted, patched, strong encryption):
    one ModelFileError naming the member, before zipfile is asked to read it (which
    raised RuntimeError or NotImplementedError mid-read)."""
    import io
    from pathlib import Path

    from svi_lda.persistence import ModelFileError
    from svi_lda.persistence.arrays import ArraySpec, read_arrays

    buf = io.BytesIO()
    np.savez(buf, a=np.zeros(3))
    data = bytearray(buf.getvalue())
    for signature, offset in ((b"PK\x01\x02", 8), (b"PK\x03\x04", 6)):
        data[data.find(signature) + offset] |= flag
    with pytest.raises(ModelFileError, match=r"array 'a': marked encrypted or patched"):
        read_arrays(bytes(data), {"a": ArraySpec((3,), ("float64",))}, Path("m/arrays.npz"))
