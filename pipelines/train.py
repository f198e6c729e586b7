"""``svi-lda train``: fit a topic model on a corpus folder, on a Dask cluster.

Without ``--scheduler`` a LocalCluster sized to the machine is started; with one, the job
runs on the cluster there. Workers must see the corpus folder at the same path.

    svi-lda train CORPUS_DIR --topics K --out MODEL_DIR [--scheduler ADDRESS] [--workers N]
                  [--method online|scvb0] [--epochs E | --steps S] [--checkpoint-every N]
                  [--resume]

The model is written to MODEL_DIR; checkpoints go to MODEL_DIR/checkpoint (atomically).
After a crash, the same command with ``--resume`` continues from the last checkpoint and
ends with the same model as an uninterrupted run. Progress goes to stderr and to
MODEL_DIR/train.log.
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
from pipelines._args import OneLineParser
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
        description="Fit LDA by stochastic variational inference on a Dask cluster.",
    )
    p.add_argument("corpus", type=Path, help="corpus folder (made by 'svi-lda ingest')")
    p.add_argument("--topics", "-k", type=_POSITIVE, required=True, help="number of topics K")
    p.add_argument("--method", choices=("online", "scvb0"), default="online",
                   help="learning_method: 'online' (SVI) or 'scvb0' (stochastic collapsed "
                   "VB, Foulds et al. 2013; sampler-quality topics)")
    p.add_argument("--out", "-o", type=Path, required=True, help="model folder to write")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="Dask scheduler address (tcp://host:8786) or scheduler file; "
        "default: start a local cluster",
    )
    p.add_argument(
        "--workers",
        type=_POSITIVE,
        help="local cluster: worker processes (default: one per core); with --scheduler: "
        "wait until this many workers are connected",
    )
    p.add_argument("--threads-per-worker", type=_POSITIVE, default=1, help="local cluster only")
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
                   help="start the next minibatch's E-steps before the current update "
                   "lands (faster; staleness 1, not equal to synchronous SVI)")
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

    with local_cluster(args.workers, args.threads_per_worker) as cluster, Client(
        cluster
    ) as client:
        yield client


class Progress:
    """Prints a progress line every ``every`` steps (and logs it).

    The per-step figure is the method's (``figure_label``): SVI's minibatch ELBO, or
    SCVB0's collapsed log predictive (not a bound), each per token.
    """

    def __init__(self, every: int, figure_label: str = "minibatch ELBO per token") -> None:
        self.every = max(1, every)
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
            f"{perplexity_bound(m.bound_per_token):.0f})  "
            f"sent {self.bytes_out / self.steps / 1e6:.2f} MB/step"
            + ("  [checkpoint]" if report.checkpointed else "")
        )
        logger.info(line)
        self.docs = self.tokens = self.seconds = self.bytes_out = self.steps = 0


def _setup_logging(out: Path) -> None:
    # Dask's own loggers default to INFO; keep its start-up chatter off the progress lines.
    import distributed  # noqa: F401 - its import applies Dask's logging config; override after

    logging.getLogger("distributed").setLevel(logging.WARNING)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    to_file = logging.FileHandler(out / "train.log")
    to_file.setFormatter(fmt)
    to_screen = logging.StreamHandler(sys.stderr)
    to_screen.setFormatter(logging.Formatter("%(message)s"))
    for name in ("pipelines", "svi_lda"):
        log = logging.getLogger(name)
        for old in [h for h in log.handlers if getattr(h, "_svi_lda_train", False)]:
            log.removeHandler(old)
            old.close()
        log.setLevel(logging.INFO)
        to_file._svi_lda_train = to_screen._svi_lda_train = True  # type: ignore[attr-defined]
        log.addHandler(to_file)
        log.addHandler(to_screen)
        log.propagate = False


def print_topics(model: Any, n_words: int, file: Any = None) -> None:
    """Print each topic's top words."""
    for k, words in enumerate(model.top_words(n_words)):
        print(f"topic {k:>3}: " + " ".join(str(w) for w, _ in words), file=file)


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda train``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from svi_lda import OnlineLDA
    from svi_lda.corpus import CorpusError, ParquetCorpus
    from svi_lda.distributed import (
        CheckpointError,
        SchedulerUnreachableError,
        dashboard_link,
        fit_distributed,
    )
    from svi_lda.methods import get_method
    from svi_lda.persistence import ModelFileError, save_model

    out: Path = args.out
    if out.exists() and not out.is_dir():
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
    checkpoint = out / CHECKPOINT_SUBDIR
    if ((checkpoint / "model.json").is_file() or (checkpoint / "sharded.json").is_file()) \
            and not (args.resume or args.overwrite):
        print(
            f"svi-lda train: error: {checkpoint} holds a checkpoint of an earlier run; pass "
            "--resume to continue it or --overwrite to start again.",
            file=sys.stderr,
        )
        return 2
    if args.overwrite and checkpoint.exists():
        import shutil

        shutil.rmtree(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    _setup_logging(out)
    logger.info("corpus %s", corpus)
    started = time.perf_counter()
    try:
        with cluster_client(args) as client:
            workers = client.scheduler_info().get("workers", {})
            threads = sum(w.get("nthreads", 0) for w in workers.values())
            logger.info("cluster %s: %d workers, %d threads", client.scheduler.address,
                        len(workers), threads)
            link = dashboard_link(client)
            logger.info("dashboard: %s", link or "none (no HTTP server on the scheduler)")
            fit_distributed(
                client,
                model,
                corpus,
                n_epochs=args.epochs if args.epochs is not None else (
                    1 if args.steps is None else sys.maxsize
                ),
                n_steps=args.steps,
                checkpoint_dir=checkpoint,
                checkpoint_every=args.checkpoint_every,
                resume=args.resume,
                pipelined=args.pipelined,
                sharded=True if args.sharded else None,
                on_step=Progress(args.log_every, get_method(args.method).figure_label),
            )
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
        logger.info("the model is too large for one process: its parts are in %s "
                    "(svi_lda.distributed.sharded.load_sharded_model reads them)", checkpoint)
        return 0
    save_model(model, out, extra={"corpus": str(corpus.path.resolve())})
    logger.info(
        "done: %d steps, %d documents in %.1f s; model written to %s",
        model.n_batch_iter_, model.state_.n_docs_seen, time.perf_counter() - started, out,
    )
    if args.top_words > 0:
        print_topics(model, args.top_words)
    return 0


if __name__ == "__main__":
    sys.exit(main())
