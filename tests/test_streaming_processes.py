"""Streaming with real processes: SIGKILL of the streamer, many times, including during a
snapshot write; a file still being written; SIGTERM; readers in other processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import svi_lda
from svi_lda.streaming.ledger import expected_checksum
from tests.stream_helpers import write_jsonl

REPO_ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "NUMBA_NUM_THREADS": "1"}


def _stream_cmd(src: Path, model: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "pipelines.stream", str(src), "--model", str(model),
        "--topics", "4", "--threads", "1", *extra,
    ]


def _manifest(model: Path) -> dict | None:
    try:
        return json.loads((model / "model.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _step(model: Path) -> int:
    manifest = _manifest(model)
    return -1 if manifest is None else int(manifest["state"]["step"])


def _growing_stream(src: Path, n_files: int, docs_per_file: int, seed: int = 0) -> dict:
    """Files whose word pool widens file by file (the vocabulary keeps growing); returns
    the number of records of each file."""
    rng = np.random.default_rng(seed)
    pool = [f"w{chr(97 + i)}{chr(97 + j)}" for i in range(26) for j in range(26)]
    src.mkdir(parents=True)
    records = {}
    for f in range(n_files):
        words = pool[: 20 + 6 * f]
        texts = [" ".join(rng.choice(words, 15)) for _ in range(docs_per_file)]
        name = f"f{f:04d}.jsonl"
        write_jsonl(src / name, texts)
        records[name] = docs_per_file
    return records


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def test_sigkill_many_times_every_document_once_and_the_same_model(tmp_path):
    """At least 20 SIGKILLs at random points, some during a snapshot write (a temporary
    file of the writer is left behind): after each restart the stream resumes, and at the
    end every document was used exactly once (ledger count and checksum) and the model is
    bitwise the uninterrupted run's (same documents, ids and order in every step, state
    restored exactly from its files, fixed summation order)."""
    src = tmp_path / "src"
    records = _growing_stream(src, 30, 40)
    args = ("--batch-size", "20", "--snapshot-every", "1", "--max-vocabulary", "80", "--once",
            "--log-every", "1000")
    reference = tmp_path / "reference"
    subprocess.run(_stream_cmd(src, reference, *args), env=ENV, check=True, timeout=300,
                   capture_output=True)

    model = tmp_path / "killed"
    rng = np.random.default_rng(0)
    kills = during_write = 0
    while kills < 20:
        proc = subprocess.Popen(_stream_cmd(src, model, *args), env=ENV,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start_step = _step(model)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if kills % 2 == 0 and any(model.glob(".*.tmp")):
                break  # a snapshot is being written: kill now
            if kills % 2 == 1 and _step(model) > start_step:
                time.sleep(rng.uniform(0, 0.03))
                break  # progress was committed: kill at a random point after it
            time.sleep(0.001)
        assert proc.poll() is None, "the stream ended before 20 kills: make it longer"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        during_write += any(model.glob(".*.tmp"))
    done = subprocess.run(_stream_cmd(src, model, *args), env=ENV, timeout=300,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert during_write >= 1

    ledger = _manifest(model)["extra"]["stream"]
    assert ledger == _manifest(reference)["extra"]["stream"]
    assert ledger["n_docs"] == sum(records.values())
    assert ledger["checksum"] == expected_checksum(
        (name, np.arange(n)) for name, n in records.items()
    )
    a, b = svi_lda.load(model), svi_lda.load(reference)
    assert a.state_.step == b.state_.step == 60
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    assert a.state_.scale == b.state_.scale
    assert a.vocabulary_ == b.vocabulary_
    assert a.n_features_in_ <= 80


def test_a_file_being_written_is_not_read_and_sigterm_stops_cleanly(tmp_path):
    src = tmp_path / "src"
    _growing_stream(src, 3, 10)
    model = tmp_path / "model"
    proc = subprocess.Popen(
        _stream_cmd(src, model, "--batch-size", "10", "--snapshot-every", "1",
                    "--poll-seconds", "0.05"),
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait(lambda: (_manifest(model) or {}).get("extra", {}).get("stream", {})
              .get("done", []) == ["f0000.jsonl", "f0001.jsonl", "f0002.jsonl"], 60,
              "the first three files")
        partial = src / ".f0003.jsonl.tmp"  # the producer is still writing this one
        lines = [json.dumps({"text": f"cat dog number{i}"}) for i in range(10)]
        with open(partial, "w") as fh:
            fh.write("\n".join(lines[:6]) + "\n" + lines[6][:9])
            fh.flush()
            time.sleep(0.5)  # ten polls
            ledger = _manifest(model)["extra"]["stream"]
            assert ledger["n_docs"] == 30 and ledger["current"] is None
            assert not (model / "rejected").exists()
            fh.write(lines[6][9:] + "\n" + "\n".join(lines[7:]) + "\n")
        partial.rename(src / "f0003.jsonl")  # published
        _wait(lambda: _manifest(model)["extra"]["stream"]["done"][-1] == "f0003.jsonl", 60,
              "the 4th file")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        progress = proc.stderr.read()
        for field in ("step", "files", "docs/s", "rho", "vocabulary", "ELBO/token"):
            assert field in progress, progress
        assert "stopped: 40 documents from 4 files" in progress
    finally:
        if proc.poll() is None:
            proc.kill()
    ledger = _manifest(model)["extra"]["stream"]
    assert ledger["done"][-1] == "f0003.jsonl" and ledger["n_docs"] == 40
    assert "number6" in svi_lda.load(model).vocabulary_  # the line cut in two was read whole


_READER = """
import json, sys, time
from pathlib import Path
import numpy as np
import svi_lda
model_dir, stop_file = Path(sys.argv[1]), Path(sys.argv[2])
loads, steps, errors = 0, set(), []
m = svi_lda.load(model_dir)
while not stop_file.exists():
    time.sleep(0.01)  # leave the writer some CPU
    try:
        if loads % 2:
            m.refresh()  # picks up a newer snapshot, if any
        else:
            m = svi_lda.load(model_dir)
        ledger = m.load_extra_["stream"]
        assert m.state_.n_docs_seen == ledger["n_docs"], "state and ledger disagree"
        assert m.n_features_in_ == len(m.vocabulary_)
        theta = m.transform(["wab wac wad"])
        assert abs(theta.sum() - 1) < 1e-9
        loads += 1
        steps.add(m.state_.step)
    except Exception as exc:
        errors.append(f"{type(exc).__name__}: {exc}")
print(json.dumps({"loads": loads, "steps": len(steps), "errors": errors[:5]}))
"""


def test_readers_in_other_processes_always_get_a_complete_snapshot(tmp_path):
    """A reader process loads (and refreshes) the model in a loop while the writer
    streams, snapshots every step and is SIGKILLed and restarted: every load succeeds and
    is consistent (state and ledger of one snapshot, vocabulary matching the arrays)."""
    src = tmp_path / "src"
    _growing_stream(src, 40, 40)
    model = tmp_path / "model"
    args = ("--batch-size", "20", "--snapshot-every", "1", "--once", "--max-vocabulary", "100")
    first = subprocess.run(_stream_cmd(src, model, *args, "--max-steps", "2"), env=ENV,
                           capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr
    stop_file = tmp_path / "stop-readers"
    readers = [
        subprocess.Popen([sys.executable, "-c", _READER, str(model), str(stop_file)], env=ENV,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(1)
    ]
    rng = np.random.default_rng(0)
    for _ in range(3):
        writer = subprocess.Popen(_stream_cmd(src, model, *args), env=ENV,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        start_step = _step(model)
        _wait(lambda start=start_step: _step(model) > start + 2, 120, "writer progress")
        time.sleep(rng.uniform(0, 0.05))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    stop_file.touch()
    for reader in readers:
        out, err = reader.communicate(timeout=120)
        assert reader.returncode == 0, err
        result = json.loads(out)
        assert result["errors"] == [], result
        assert result["loads"] > 20 and result["steps"] > 3, result
