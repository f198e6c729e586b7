"""Model files: no pickle, atomic writes, validation on load, exact continuation."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import svi_lda
from svi_lda import ModelFileError, OnlineLDA
from svi_lda.persistence import atomic_write_bytes
from svi_lda.persistence.manifest import content_checksum
from svi_lda.synthetic import make_lda_corpus

K, V = 4, 150


@pytest.fixture(scope="module")
def X():
    return make_lda_corpus(240, V, K, doc_length=30, seed=21).X


def trained(X, n_steps, **kw):
    model = OnlineLDA(K, total_samples=240, batch_size=60, random_state=7, n_jobs=1, **kw)
    for i in range(n_steps):
        model.partial_fit(X[(60 * i) % 240 : (60 * i) % 240 + 60])
    return model


def write_manifest(folder: Path, manifest: dict) -> None:
    """Write model.json with its content checksum recomputed (as an attacker would)."""
    if manifest.get("format_version", 0) >= 2:
        manifest["content_sha256"] = content_checksum(manifest)
    (folder / "model.json").write_text(json.dumps(manifest))


def rehash(folder: Path) -> None:
    """Make the manifest's checksums match tampered files (a 'valid' foreign file)."""
    manifest = json.loads((folder / "model.json").read_text())
    for section in ("arrays", "vocabulary"):
        if manifest.get(section):
            data = (folder / manifest[section]["file"]).read_bytes()
            manifest[section]["sha256"] = hashlib.sha256(data).hexdigest()
    write_manifest(folder, manifest)


def edit_manifest(folder: Path, edit) -> None:
    manifest = json.loads((folder / "model.json").read_text())
    edit(manifest)
    write_manifest(folder, manifest)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("prior", [None, "auto"])
def test_save_load_continues_training_bitwise(X, tmp_path, dtype, prior):
    uninterrupted = trained(X, 7, dtype=dtype, doc_topic_prior=prior)
    first = trained(X, 4, dtype=dtype, doc_topic_prior=prior)
    first.save(tmp_path / "m")
    resumed = svi_lda.load(tmp_path / "m")
    assert resumed.get_params().keys() == first.get_params().keys()
    np.testing.assert_array_equal(resumed.components_, first.components_)
    for i in range(4, 7):
        resumed.partial_fit(X[(60 * i) % 240 : (60 * i) % 240 + 60])
    assert resumed.n_batch_iter_ == uninterrupted.n_batch_iter_ == 7
    np.testing.assert_array_equal(resumed.components_, uninterrupted.components_)
    np.testing.assert_array_equal(resumed.doc_topic_prior_, uninterrupted.doc_topic_prior_)
    np.testing.assert_array_equal(resumed.transform(X[:30]), uninterrupted.transform(X[:30]))
    assert resumed.state_.word_topic.dtype == np.dtype(dtype)


def test_files_hold_no_pickle_and_load_without_it(X, tmp_path):
    model = trained(X, 2)
    model.vocabulary_ = [f"w{i}" for i in range(V)]
    model.save(tmp_path / "m")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert names[-1] == "model.json" and len(names) == 2 and names[0].endswith(".npz")
    with np.load(tmp_path / "m" / names[0], allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
    json.loads((tmp_path / "m" / "model.json").read_text())  # plain JSON
    loaded = svi_lda.load(tmp_path / "m")
    assert loaded.vocabulary_ == model.vocabulary_


def test_pickled_arrays_are_refused(X, tmp_path):
    trained(X, 1).save(tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "model.json").read_text())
    arrays = tmp_path / "m" / manifest["arrays"]["file"]
    evil = np.empty(1, dtype=object)
    evil[0] = {"not": "an array"}
    with open(arrays, "wb") as fh:
        np.savez(fh, word_topic=evil, topic_sums=evil, alpha=evil)
    rehash(tmp_path / "m")
    with pytest.raises(ModelFileError):
        svi_lda.load(tmp_path / "m")


def test_resave_keeps_one_previous_generation_and_cleans_up(X, tmp_path):
    model = trained(X, 1)
    model.save(tmp_path / "m")
    first = json.loads((tmp_path / "m" / "model.json").read_text())["arrays"]["file"]
    for i in (1, 2):
        model.partial_fit(X[60 * i : 60 * i + 60])
        model.save(tmp_path / "m")
    names = sorted(p.name for p in (tmp_path / "m").iterdir())
    # The current arrays and the previous generation's (a reader may be opening them).
    assert len(names) == 3 and first not in names and not any(".tmp" in n for n in names)
    np.testing.assert_array_equal(svi_lda.load(tmp_path / "m").components_, model.components_)


def test_crash_while_saving_leaves_the_old_model_loadable(X, tmp_path, monkeypatch):
    model = trained(X, 1)
    model.save(tmp_path / "m")
    old = model.components_
    model.partial_fit(X[60:120])

    real_replace = os.replace

    def crash(src, dst):
        # The new arrays file lands; the crash hits the manifest's rename (the commit point).
        if Path(dst).name == "model.json":
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        model.save(tmp_path / "m")
    monkeypatch.undo()
    np.testing.assert_array_equal(svi_lda.load(tmp_path / "m").components_, old)


def test_atomic_write_bytes(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"old")
    monkeypatch.setattr(os, "replace", lambda s, d: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left


# -- corrupt and foreign files -------------------------------------------------------------
def _corrupt_arrays_byte(folder: Path) -> None:
    manifest = json.loads((folder / "model.json").read_text())
    path = folder / manifest["arrays"]["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _nan_in_alpha(folder: Path) -> None:
    manifest = json.loads((folder / "model.json").read_text())
    path = folder / manifest["arrays"]["file"]
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["alpha"][0] = np.nan
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    rehash(folder)


def _npy_instead_of_npz(folder: Path) -> None:
    manifest = json.loads((folder / "model.json").read_text())
    with open(folder / manifest["arrays"]["file"], "wb") as fh:
        np.save(fh, np.zeros((V, K)))
    rehash(folder)


def _missing_state_section(folder: Path) -> None:
    edit_manifest(folder, lambda m: m.pop("state"))


CORRUPTIONS = {
    "no manifest": lambda f: (f / "model.json").unlink(),
    "manifest not json": lambda f: (f / "model.json").write_bytes(b"\x00\xff{garbage"),
    "manifest truncated": lambda f: (f / "model.json").write_text(
        (f / "model.json").read_text()[:40]
    ),
    "foreign format": lambda f: edit_manifest(f, lambda m: m.update(format="gensim")),
    "future version": lambda f: edit_manifest(f, lambda m: m.update(format_version=99)),
    "arrays byte flipped": _corrupt_arrays_byte,
    "arrays missing": lambda f: next(f.glob("arrays-*.npz")).unlink(),
    "arrays path escapes folder": lambda f: edit_manifest(
        f, lambda m: m["arrays"].update(file="../elsewhere.npz")
    ),
    "wrong shape": lambda f: edit_manifest(f, lambda m: m["state"].update(n_components=K + 1)),
    "wrong dtype": lambda f: edit_manifest(f, lambda m: m["state"].update(dtype="float64")),
    "nan values": _nan_in_alpha,
    "npy instead of npz": _npy_instead_of_npz,
    "state section missing": _missing_state_section,
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_or_foreign_files_fail_clearly(X, tmp_path, corruption):
    trained(X, 1).save(tmp_path / "m")
    CORRUPTIONS[corruption](tmp_path / "m")
    with pytest.raises(ModelFileError) as info:
        svi_lda.load(tmp_path / "m")
    assert str(tmp_path / "m") in str(info.value)  # names the file or folder


def test_model_file_error_is_a_value_error():
    assert issubclass(ModelFileError, ValueError)


def test_unfitted_model_cannot_be_saved(tmp_path):
    with pytest.raises(svi_lda.NotFittedError, match="not fitted"):
        OnlineLDA(K).save(tmp_path / "m")
