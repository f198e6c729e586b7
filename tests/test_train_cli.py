"""``svi-lda train`` end to end: in process (the default) and on a real cluster, a real
SIGKILL of the training process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from svi_lda import OnlineLDA
from svi_lda.corpus import from_csr
from svi_lda.estimator import load_model
from svi_lda.synthetic import make_lda_corpus

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    syn = make_lda_corpus(1200, 400, 5, doc_length=60, seed=7)
    path = tmp_path_factory.mktemp("cli") / "corpus"
    from_csr(syn.X, [f"w{i}" for i in range(400)], path, row_group_size=50)
    return path


def train_args(corpus_dir: Path, out: Path, *extra: str) -> list[str]:
    return [str(corpus_dir), "--topics", "5", "--out", str(out), "--batch-size", "150",
            "--seed", "11", "--alpha", "auto", "--log-every", "1", *extra]


def reference(corpus_dir: Path, epochs: int) -> OnlineLDA:
    return OnlineLDA(n_components=5, batch_size=150, random_state=11, doc_topic_prior="auto",
                     max_iter=epochs).fit(corpus_dir)


def test_train_on_a_scheduler_matches_in_process(dask_client, corpus_dir, tmp_path, capsys):
    from pipelines.train import main

    out = tmp_path / "model"
    address = dask_client.scheduler.address
    assert main(train_args(corpus_dir, out, "--scheduler", address, "--epochs", "2")) == 0
    model = load_model(out)
    np.testing.assert_array_equal(model.components_, reference(corpus_dir, 2).components_)
    printed = capsys.readouterr()
    assert "topic   4:" in printed.out  # the topics with their top words
    assert "docs/s" in printed.err and "ELBO/token" in printed.err and "rho" in printed.err
    assert "dashboard:" in printed.err
    assert "step" in (out / "train.log").read_text()
    # a second run into the same folder must not silently discard the checkpoint
    assert main(train_args(corpus_dir, out, "--scheduler", address, "--steps", "2")) == 2
    assert "--resume" in capsys.readouterr().err


def test_coordinator_sigkill_then_resume_gives_the_uninterrupted_model(
    dask_client, corpus_dir, tmp_path
):
    """Run the job as a subprocess, SIGKILL it after a checkpoint, resume, compare bitwise."""
    from pipelines.train import main

    out = tmp_path / "model"
    epochs = 6  # 8 minibatches per epoch: 48 steps
    args = train_args(corpus_dir, out, "--scheduler", dask_client.scheduler.address,
                      "--epochs", str(epochs), "--checkpoint-every", "3")
    manifest = out / "checkpoint" / "model.json"
    # SIGKILLed (the helper asserts it) once a checkpoint of step 6 or later exists.
    _kill_when_checkpointed(args, manifest, at_least=6)
    checkpoint = load_model(out / "checkpoint")  # complete and consistent after the kill
    killed_at = checkpoint.n_batch_iter_
    assert 6 <= killed_at < 8 * epochs
    assert checkpoint.load_extra_["position"] == killed_at % 8
    assert not (out / "model.json").exists()  # the final model was never written

    assert main(args + ["--resume"]) == 0
    resumed = load_model(out)
    ref = reference(corpus_dir, epochs)
    assert resumed.n_batch_iter_ == ref.n_batch_iter_ == 8 * epochs
    np.testing.assert_array_equal(resumed.state_.word_topic, ref.state_.word_topic)
    np.testing.assert_array_equal(resumed.doc_topic_prior_, ref.doc_topic_prior_)
    assert resumed.state_.scale == ref.state_.scale


def test_bad_input_gives_clear_errors(dask_client, corpus_dir, tmp_path, capsys):
    from pipelines.train import main

    assert main([str(tmp_path / "nope"), "--topics", "3", "--out", str(tmp_path / "m")]) == 2
    assert "nope" in capsys.readouterr().err
    code = main(train_args(corpus_dir, tmp_path / "m", "--scheduler", "tcp://127.0.0.1:9",
                           "--timeout", "1"))
    assert code == 2
    assert "cannot reach a Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err


def _kill_when_checkpointed(args: list[str], manifest: Path, at_least: int) -> int:
    """Run ``svi-lda train ARGS`` as a process, SIGKILL it once the checkpoint in
    ``manifest`` has reached step ``at_least``; return that checkpoint's step."""
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.train", *args], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if manifest.is_file() and json.loads(manifest.read_text())["state"]["step"] >= (
                at_least
            ):
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the job ended before it could be killed: " + (
            proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        )
        os.kill(proc.pid, signal.SIGKILL)  # the coordinator this test started
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return load_model(manifest.parent).n_batch_iter_


def test_a_chain_of_resumes_with_kills_gives_the_uninterrupted_model(
    dask_client, corpus_dir, tmp_path
):
    """Issue 12, item 1: resume, be killed, resume again, ... five resumes in all.

    8 minibatches per epoch and checkpoints every 3 steps, so most checkpoints fall inside
    an epoch: each must carry the row groups consumed in it before every earlier stop.
    """
    from pipelines.train import main

    out = tmp_path / "model"
    epochs = 6  # 48 steps
    base = train_args(corpus_dir, out, "--scheduler", dask_client.scheduler.address,
                      "--checkpoint-every", "3")
    manifest = out / "checkpoint" / "model.json"

    def extra() -> dict:
        return load_model(out / "checkpoint").load_extra_

    assert main(base + ["--steps", "5"]) == 0  # stops inside epoch 1
    assert extra()["position"] == 5 and len(extra()["consumed_units"]) == 15
    assert main(base + ["--steps", "10", "--resume"]) == 0  # resume 1, inside epoch 2
    assert extra()["position"] == 2 and len(extra()["consumed_units"]) == 6
    killed = _kill_when_checkpointed(  # resume 2, killed
        base + ["--epochs", str(epochs), "--resume"], manifest, 13)
    assert 13 <= killed < 8 * epochs
    killed_again = _kill_when_checkpointed(  # resume 3, killed
        base + ["--epochs", str(epochs), "--resume"], manifest, killed + 6)
    assert killed + 6 <= killed_again < 8 * epochs
    if killed_again < 8 * epochs - 2:
        assert main(base + ["--steps", str(killed_again + 2), "--resume"]) == 0  # resume 4
    assert main(base + ["--epochs", str(epochs), "--resume"]) == 0  # resume 5
    resumed = load_model(out)
    ref = reference(corpus_dir, epochs)
    assert resumed.n_batch_iter_ == ref.n_batch_iter_ == 8 * epochs
    np.testing.assert_array_equal(resumed.state_.word_topic, ref.state_.word_topic)
    np.testing.assert_array_equal(resumed.state_.topic_sums, ref.state_.topic_sums)
    np.testing.assert_array_equal(resumed.doc_topic_prior_, ref.doc_topic_prior_)
    assert resumed.state_.scale == ref.state_.scale


def assert_same_model(a: OnlineLDA, b: OnlineLDA) -> None:
    assert a.n_batch_iter_ == b.n_batch_iter_
    np.testing.assert_array_equal(a.state_.word_topic, b.state_.word_topic)
    np.testing.assert_array_equal(a.state_.topic_sums, b.state_.topic_sums)
    np.testing.assert_array_equal(a.doc_topic_prior_, b.doc_topic_prior_)
    assert a.state_.scale == b.state_.scale
    assert a.bound_history_ == b.bound_history_


def test_train_without_a_cluster_runs_in_process_and_equals_fit_and_dask(
    dask_client, corpus_dir, tmp_path, capsys
):
    """Issue 16: no cluster option trains on this process's threads (no Dask), bitwise
    the model of ``OnlineLDA.fit`` and of the same command on a Dask cluster."""
    from pipelines.train import main

    assert main(train_args(corpus_dir, tmp_path / "threads", "--epochs", "2")) == 0
    printed = capsys.readouterr().err
    assert "training in this process on" in printed and "dashboard" not in printed
    assert "ELBO/token" in printed and "MB/step" not in printed  # nothing is sent
    assert "training in this process" in (tmp_path / "threads" / "train.log").read_text()
    threads = load_model(tmp_path / "threads")
    assert_same_model(threads, reference(corpus_dir, 2))
    assert main(train_args(corpus_dir, tmp_path / "dask", "--epochs", "2", "--scheduler",
                           dask_client.scheduler.address)) == 0
    assert_same_model(threads, load_model(tmp_path / "dask"))
    # One thread gives the same model as the machine's cores.
    assert main(train_args(corpus_dir, tmp_path / "one", "--epochs", "2", "--threads",
                           "1")) == 0
    assert_same_model(threads, load_model(tmp_path / "one"))


def test_a_checkpoint_written_in_process_resumes_on_a_cluster_and_back(
    dask_client, corpus_dir, tmp_path
):
    """The two paths write the same checkpoint: start in process, go on on Dask, finish
    in process; the model is the uninterrupted one."""
    from pipelines.train import main

    out = tmp_path / "model"
    base = train_args(corpus_dir, out, "--checkpoint-every", "2")
    on_dask = ["--scheduler", dask_client.scheduler.address]
    assert main(base + ["--steps", "5"]) == 0  # inside epoch 1
    assert main(base + on_dask + ["--steps", "11", "--resume"]) == 0  # inside epoch 2
    assert main(base + ["--epochs", "3", "--resume"]) == 0
    assert_same_model(load_model(out), reference(corpus_dir, 3))


def test_sigkill_in_process_then_resume_gives_the_uninterrupted_model(corpus_dir, tmp_path):
    """The default path (no cluster): SIGKILL the training process after a checkpoint,
    resume, compare bitwise with ``fit``."""
    from pipelines.train import main

    out = tmp_path / "model"
    epochs = 16  # 128 small steps: the kill lands well before the end
    args = train_args(corpus_dir, out, "--epochs", str(epochs), "--checkpoint-every", "3",
                      "--threads", "1")
    killed_at = _kill_when_checkpointed(args, out / "checkpoint" / "model.json", 6)
    assert 6 <= killed_at < 8 * epochs
    assert not (out / "model.json").exists()  # the final model was never written
    assert main(args + ["--resume"]) == 0
    assert_same_model(load_model(out), reference(corpus_dir, epochs))


def test_train_on_a_local_cluster_it_starts(corpus_dir, tmp_path, capsys):
    """``--workers N`` without --scheduler starts a LocalCluster (the Dask path) and gives
    the in-process model."""
    from pipelines.train import main

    out = tmp_path / "model"
    assert main(train_args(corpus_dir, out, "--epochs", "1", "--workers", "1")) == 0
    assert "cluster tcp://127.0.0.1" in capsys.readouterr().err
    assert_same_model(load_model(out), reference(corpus_dir, 1))
