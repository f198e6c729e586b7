"""``svi-lda train``: fit a topic model on a corpus folder, in this process or on Dask.

Without a cluster option the job runs in this process, its E-steps on the machine's
threads (:func:`svi_lda.distributed.fit_in_process`, the engine of ``OnlineLDA.fit``): on
one machine that is the fastest way to train, since a local Dask cluster adds transfers
and a scheduler round trip to every step (``benchmarks/results/distributed.md``, issue 16). With
``--scheduler ADDRESS`` the job runs on the Dask cluster there (workers must see the
corpus folder at the same path); ``--local-cluster`` or ``--workers N`` start a
``LocalCluster`` of worker processes on this machine (to try the Dask path before a real
cluster). Every way gives the same model, bitwise.

    svi-lda train CORPUS_DIR --topics K --out MODEL_DIR [--threads N]
                  [--scheduler ADDRESS | --local-cluster | --workers N]
                  [--method online|scvb0] [--epochs E | --steps S] [--checkpoint-every N]
                  [--resume]

The model is written to MODEL_DIR; checkpoints go to MODEL_DIR/checkpoint (atomically,
the same files on every path: a run checkpointed in process resumes on a cluster and the
other way round). After a crash, the same command with ``--resume`` continues from the
last checkpoint and ends with the same model as an uninterrupted run. Progress goes to
stderr and to MODEL_DIR/train.log.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipelines._args import NON_NEGATIVE as _NON_NEGATIVE
from pipelines._args import POSITIVE as _POSITIVE
from pipelines._args import OneLineParser, location, output_folder
from pipelines._args import float_in as _float_in

logger = logging.getLogger("pipelines.train")

CHECKPOINT_SUBDIR = "checkpoint"


def _alpha_arg(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a float > 0 or 'auto'; got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a float > 0 or 'auto'; got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda train``."""
    p = OneLineParser(
        prog="svi-lda train",
        description="Fit LDA by stochastic variational inference, in this process (the "
        "default: threads) or on a Dask cluster.",
    )
    p.add_argument("corpus", type=location,
                   help="corpus folder (made by 'svi-lda ingest'), or a URL (s3://...)")
    p.add_argument("--topics", "-k", type=_POSITIVE, required=True, help="number of topics K")
    p.add_argument("--method", choices=("online", "scvb0"), default="online",
                   help="learning_method: 'online' (SVI) or 'scvb0' (stochastic collapsed "
                   "VB, Foulds et al. 2013; sampler-quality topics)")
    p.add_argument("--out", "-o", type=output_folder, required=True,
                   help="model folder to write, or a URL (s3://...)")
    p.add_argument("--threads", type=_POSITIVE, metavar="N",
                   help="in process (no cluster option): E-step threads (default: one per "
                   "core)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask cluster of this scheduler (tcp://host:8786) or scheduler "
        "file; default: train in this process",
    )
    p.add_argument("--local-cluster", action="store_true",
                   help="start a local Dask cluster of worker processes and train on it "
                   "(slower than the default on one machine; the same model)")
    p.add_argument(
        "--workers",
        type=_POSITIVE,
        help="without --scheduler: start a local Dask cluster of this many worker "
        "processes (default with --local-cluster: one per core); with --scheduler: wait "
        "until this many workers are connected",
    )
    p.add_argument("--threads-per-worker", type=_POSITIVE, default=None,
                   help="local cluster only (default 1)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=_POSITIVE, help="passes over the corpus (default 1)")
    length.add_argument("--steps", type=_POSITIVE, help="stop after this many SVI steps in total")
    p.add_argument("--batch-size", type=_POSITIVE, default=2048, help="documents per minibatch "
                   "(whole row groups, at least this many)")
    p.add_argument("--checkpoint-every", type=_NON_NEGATIVE, default=50, metavar="N",
                   help="steps between checkpoints (0: only at the end)")
    p.add_argument("--resume", action="store_true",
                   help="continue from MODEL_DIR/checkpoint if it exists")
    p.add_argument("--overwrite", action="store_true",
                   help="discard an existing checkpoint in MODEL_DIR and start again")
    p.add_argument("--seed", type=_NON_NEGATIVE, default=0)
    p.add_argument("--alpha", type=_alpha_arg, default=None,
                   help="document-topic prior: a float, or 'auto' to learn it (default 1/K)")
    p.add_argument("--eta", type=_float_in(0.0), default=None,
                   help="topic-word prior (default 1/K)")
    p.add_argument("--learning-offset", type=_float_in(0.0, open_low=False), default=10.0,
                   help="tau0")
    p.add_argument("--learning-decay", type=_float_in(0.5, 1.0), default=0.7,
                   help="kappa in (0.5, 1]")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="storage and E-step precision (default float32, the library default)")
    p.add_argument("--sharded", action="store_true",
                   help="split the topics' K x V parameters by vocabulary over the workers "
                        "(exact online SVI; automatic above 2 GiB); the coordinator holds "
                        "only K-sized totals")
    p.add_argument("--pipelined", action="store_true",
                   help="on a Dask cluster: start the next minibatch's E-steps before the "
                   "current update lands (staleness 1, not equal to synchronous SVI)")
    p.add_argument("--log-every", type=_POSITIVE, default=10, metavar="N",
                   help="print a progress line every N steps")
    p.add_argument("--top-words", type=_NON_NEGATIVE, default=10,
                   help="print each topic's top words at the end (0: don't)")
    p.add_argument("--no-verify", action="store_true",
                   help="skip checking every row group's checksum before training (a read "
                   "of the whole corpus; each row group is still checked when it is read)")
    p.add_argument("--timeout", type=_float_in(0.0), default=20.0,
                   help="seconds to wait for the scheduler / workers")
    return p


def uses_cluster(args: argparse.Namespace) -> bool:
    """Whether the job runs on Dask (a scheduler or a local cluster) rather than on this
    process's threads."""
    return bool(args.scheduler or args.local_cluster or args.workers)


def check_engine_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject options of one engine given to the other (one line naming them)."""
    if uses_cluster(args):
        if args.threads is not None:
            parser.error("argument --threads: in-process training only; on a Dask cluster "
                         "use --threads-per-worker (local cluster) or the workers' own "
                         "--nthreads")
        if args.scheduler and args.local_cluster:
            parser.error("argument --local-cluster: not allowed with --scheduler")
        return
    for given, name in ((args.pipelined, "--pipelined"), (args.sharded, "--sharded"),
                        (args.threads_per_worker is not None, "--threads-per-worker")):
        if given:
            parser.error(f"argument {name}: needs a Dask cluster (--scheduler ADDRESS, "
                         "--local-cluster or --workers N); without one the job runs in "
                         "this process")


@contextlib.contextmanager
def cluster_client(args: argparse.Namespace) -> Iterator[Any]:
    """A client for ``--scheduler``, or for a LocalCluster started (and stopped) here."""
    from svi_lda.distributed import connect, local_cluster

    if args.scheduler:
        client = connect(args.scheduler, timeout=args.timeout)
        try:
            if args.workers:
                client.wait_for_workers(args.workers, timeout=args.timeout)
            yield client
        finally:
            client.close()
        return
    from distributed import Client

    with local_cluster(args.workers, args.threads_per_worker or 1) as cluster, Client(
        cluster
    ) as client:
        yield client


class Progress:
    """Prints a progress line every ``every`` steps (and logs it).

    The per-step figure is the method's (``figure_label``): SVI's minibatch ELBO, or
    SCVB0's collapsed log predictive (not a bound), each per token.
    """

    def __init__(
        self, every: int, figure_label: str = "minibatch ELBO per token", *,
        transfers: bool = True,
    ) -> None:
        self.every = max(1, every)
        self.transfers = transfers  # bytes sent per step (nothing is sent in process)
        is_bound = "ELBO" in figure_label
        self.figure = "ELBO" if is_bound else "log-predictive"
        self.figure_perplexity = "perplexity bound" if is_bound else "in-sample perplexity"
        self.docs = 0
        self.tokens = 0.0
        self.seconds = 0.0
        self.bytes_out = 0
        self.steps = 0

    def __call__(self, report: Any) -> None:
        from svi_lda.distributed import perplexity_bound

        m = report.metrics
        self.docs += m.n_docs
        self.tokens += m.n_tokens
        self.seconds += report.wall_seconds
        self.bytes_out += report.bytes_to_workers
        self.steps += 1
        if m.step % self.every and not report.checkpointed:
            return
        rate = self.docs / self.seconds if self.seconds > 0 else float("nan")
        tok_rate = self.tokens / self.seconds if self.seconds > 0 else float("nan")
        line = (
            f"step {m.step:>6}  epoch {report.epoch + 1} batch {report.position + 1:>4}  "
            f"{rate:>8.0f} docs/s {tok_rate:>10.0f} tokens/s  rho {m.rho:.4f}  "
            f"{self.figure}/token {m.bound_per_token:.4f} ({self.figure_perplexity} "
            f"{perplexity_bound(m.bound_per_token):.0f})"
            + (f"  sent {self.bytes_out / self.steps / 1e6:.2f} MB/step" if self.transfers
               else "")
            + ("  [checkpoint]" if report.checkpointed else "")
        )
        logger.info(line)
        self.docs = self.tokens = self.seconds = self.bytes_out = self.steps = 0


def _setup_logging(out: Path | str) -> None:
    # Dask's own loggers default to INFO; keep its start-up chatter off the progress lines.
    import distributed  # noqa: F401 - its import applies Dask's logging config; override after

    logging.getLogger("distributed").setLevel(logging.WARNING)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    # A model folder on an object store gets no log file (objects cannot be appended to).
    to_file = logging.FileHandler(out / "train.log") if isinstance(out, Path) else None
    if to_file is not None:
        to_file.setFormatter(fmt)
    to_screen = logging.StreamHandler(sys.stderr)
    to_screen.setFormatter(logging.Formatter("%(message)s"))
    for name in ("pipelines", "svi_lda"):
        log = logging.getLogger(name)
        for old in [h for h in log.handlers if getattr(h, "_svi_lda_train", False)]:
            log.removeHandler(old)
            old.close()
        log.setLevel(logging.INFO)
        to_screen._svi_lda_train = True  # type: ignore[attr-defined]
        if to_file is not None:
            to_file._svi_lda_train = True  # type: ignore[attr-defined]
            log.addHandler(to_file)
        log.addHandler(to_screen)
        log.propagate = False


def print_topics(model: Any, n_words: int, file: Any = None) -> None:
    """Print each topic's top words."""
    for k, words in enumerate(model.top_words(n_words)):
        print(f"topic {k:>3}: " + " ".join(str(w) for w, _ in words), file=file)


def run_job(args: argparse.Namespace, model: Any, corpus: Any, checkpoint: Path) -> float:
    """Train ``model`` on ``corpus`` in this process or on the Dask cluster ``args`` ask
    for, with checkpoints and progress; returns the training's seconds (a cluster's start
    is not in them: it is logged on its own)."""
    from svi_lda.methods import get_method

    n_epochs = args.epochs if args.epochs is not None else (
        1 if args.steps is None else sys.maxsize
    )
    figure_label = get_method(args.method).figure_label
    common: dict[str, Any] = {
        "n_epochs": n_epochs, "n_steps": args.steps, "checkpoint_dir": checkpoint,
        "checkpoint_every": args.checkpoint_every, "resume": args.resume,
    }
    if not uses_cluster(args):
        from svi_lda.distributed.in_process import fit_in_process

        logger.info("training in this process on %d threads (no cluster option given)",
                    model._n_threads())
        started = time.perf_counter()
        fit_in_process(model, corpus, on_step=Progress(args.log_every, figure_label,
                                                       transfers=False), **common)
        return time.perf_counter() - started

    from svi_lda.distributed import dashboard_link, fit_distributed

    starting = time.perf_counter()
    with cluster_client(args) as client:
        workers = client.scheduler_info().get("workers", {})
        threads = sum(w.get("nthreads", 0) for w in workers.values())
        logger.info("cluster %s: %d workers, %d threads (ready in %.1f s)",
                    client.scheduler.address, len(workers), threads,
                    time.perf_counter() - starting)
        link = dashboard_link(client)
        logger.info("dashboard: %s", link or "none (no HTTP server on the scheduler)")
        started = time.perf_counter()
        fit_distributed(client, model, corpus, pipelined=args.pipelined,
                        sharded=True if args.sharded else None,
                        on_step=Progress(args.log_every, figure_label), **common)
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda train``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_engine_options(parser, args)
    from svi_lda import OnlineLDA, storage
    from svi_lda.corpus import CorpusError, ParquetCorpus
    from svi_lda.distributed import CheckpointError, SchedulerUnreachableError
    from svi_lda.persistence import ModelFileError, save_model

    out = args.out  # a Path, or a URL (svi_lda.storage)
    if isinstance(out, Path) and out.exists() and not out.is_dir():
        parser.error(f"argument --out/-o: {out} exists and is not a folder")
    # Every argument is checked before anything starts (a cluster takes seconds).
    model = OnlineLDA(
        n_components=args.topics,
        learning_method=args.method,
        doc_topic_prior=args.alpha,
        topic_word_prior=args.eta,
        learning_offset=args.learning_offset,
        learning_decay=args.learning_decay,
        batch_size=args.batch_size,
        dtype=args.dtype,
        n_jobs=args.threads,
        random_state=args.seed,
    )
    try:
        model._check_params()
        model._initial_alpha()
    except ValueError as exc:
        parser.error(str(exc))
    try:
        corpus = ParquetCorpus(args.corpus)
        if not args.no_verify:
            corpus.verify()  # before any worker starts: a bad file is one clear line
    except CorpusError as exc:
        print(f"svi-lda train: error: {exc}", file=sys.stderr)
        return 2
    checkpoint = storage.join(out, CHECKPOINT_SUBDIR)
    if (storage.is_file(storage.join(checkpoint, "model.json"))
            or storage.is_file(storage.join(checkpoint, "sharded.json"))) and not (
        args.resume or args.overwrite
    ):
        print(
            f"svi-lda train: error: {checkpoint} holds a checkpoint of an earlier run; pass "
            "--resume to continue it or --overwrite to start again.",
            file=sys.stderr,
        )
        return 2
    if args.overwrite:
        storage.remove_folder(checkpoint)
    if isinstance(out, Path):
        out.mkdir(parents=True, exist_ok=True)
    _setup_logging(out)
    logger.info("corpus %s", corpus)
    try:
        seconds = run_job(args, model, corpus, checkpoint)
    except (CorpusError, CheckpointError, ModelFileError, SchedulerUnreachableError) as exc:
        logger.error("svi-lda train: error: %s", exc)
        return 2
    except TimeoutError as exc:
        logger.error("svi-lda train: error: workers did not arrive in %g s: %s",
                     args.timeout, exc)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted; continue with --resume from %s", checkpoint)
        return 130
    if getattr(model, "sharded_checkpoint_", None) is not None:
        # too large to assemble here: the sharded checkpoint is the model
        logger.info("the model is too large for one process: its parts are in %s (query it "
                    "on a cluster with svi_lda.distributed.sharded.ShardedModel.open)",
                    checkpoint)
        return 0
    try:
        save_model(model, out, extra={"corpus": storage.absolute(corpus.path)})
    except (OSError, ValueError) as exc:
        logger.error("svi-lda train: error: cannot write the model to %s: %s (the last "
                     "checkpoint is in %s)", out, exc, checkpoint)
        return 1
    logger.info(
        "done: %d steps, %d documents in %.1f s; model written to %s",
        model.n_batch_iter_, model.state_.n_docs_seen, seconds, out,
    )
    if args.top_words > 0:
        print_topics(model, args.top_words)
    return 0


if __name__ == "__main__":
    sys.exit(main())
