"""``svi-lda stream``: keep a model up to date from a folder where new files land.

    svi-lda stream SOURCE --model MODEL_DIR [--topics K] [--scheduler ADDRESS]
                   [--snapshot-every N | --snapshot-seconds S] [--max-vocabulary N]
                   [--poll-seconds S] [--once] [--schedule {stationary,drift}]
                   [--method {online,scvb0}]

SOURCE is a folder (a local path or a URL: ``file://``, ``s3://``...) of files in any
format ``svi-lda ingest`` reads, or corpus-folder Parquet parts. Producers publish a file
by writing it under a name starting with ``.`` or ``_`` (or ending in ``.tmp``) and
renaming it when it is complete; files are taken in name order, each exactly once.
``--topics`` starts a new model in MODEL_DIR (``--method`` picks its learning method:
SVI, or SCVB0 for sampler-quality topics); an existing one is continued with the method
it was made with. SIGINT/SIGTERM stop after the current step with a final snapshot;
``--once`` stops when the folder is drained. Any process can ``svi_lda.load(MODEL_DIR)``
meanwhile. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipelines._args import OneLineParser, output_folder

logger = logging.getLogger("pipelines.stream")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda stream``."""
    p = OneLineParser(
        prog="svi-lda stream",
        description="Stream new files of a folder into an online topic model.",
    )
    p.add_argument("source", help="folder (path or URL: file://, s3://...) where new files "
                   "appear")
    p.add_argument("--model", "-m", type=output_folder, required=True,
                   help="model folder (path or URL): snapshot, checkpoint and what queries "
                   "load")
    p.add_argument("--topics", "-k", type=int, help="number of topics K (new model only)")
    p.add_argument("--method", choices=("online", "scvb0"), default="online",
                   help="new model: learning_method, 'online' (SVI) or 'scvb0' (stochastic "
                   "collapsed VB, Foulds et al. 2013; sampler-quality topics)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the E-steps on the Dask cluster at this scheduler address "
                   "(tcp://host:8786 or a scheduler file)")
    snap = p.add_mutually_exclusive_group()
    snap.add_argument("--snapshot-every", type=int, metavar="N", default=None,
                      help="steps between snapshots (default 20)")
    snap.add_argument("--snapshot-seconds", type=float, metavar="S",
                      help="seconds between snapshots")
    p.add_argument("--max-vocabulary", type=int, metavar="N",
                   help="cap on the vocabulary; the rarest words by decayed count are "
                   "retired (their ids reused), other ids never change")
    p.add_argument("--poll-seconds", type=float, default=5.0, metavar="S",
                   help="wait between listings of SOURCE when no full minibatch is there")
    p.add_argument("--once", action="store_true",
                   help="stop when SOURCE is drained (the last minibatch may be smaller)")
    p.add_argument("--batch-size", type=int, default=512, help="documents per minibatch")
    p.add_argument("--schedule", choices=("stationary", "drift"), default="stationary",
                   help="step scaling: 'stationary' (D = documents seen) or 'drift' "
                   "(D = --drift-window, rho >= batch/window: follows changing topics)")
    p.add_argument("--drift-window", type=int, default=25_000, metavar="N",
                   help="documents the drift mode remembers")
    p.add_argument("--text-field", default="text", help="text column/field of the inputs")
    p.add_argument("--stop-words", choices=("none", "english"), default="none",
                   help="new model: drop English stop words when tokenizing")
    p.add_argument("--seed", type=int, default=0, help="new model: random seed")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="new model: storage and E-step precision")
    p.add_argument("--learning-offset", type=float, default=10.0, help="new model: tau0")
    p.add_argument("--learning-decay", type=float, default=0.7,
                   help="new model: kappa in (0.5, 1]")
    p.add_argument("--threads", type=int, default=None, help="E-step threads (default: all)")
    p.add_argument("--log-every", type=int, default=10, metavar="N",
                   help="print a progress line every N steps (and at every snapshot)")
    p.add_argument("--max-steps", type=int, help="stop after this many steps (tests)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda stream``; returns the exit code."""
    args = build_parser().parse_args(argv)
    # Root at WARNING: other libraries' INFO lines (NumExpr's thread count, botocore's
    # "Found credentials") are not news on every run; this program's own are.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    for name in ("pipelines", "svi_lda"):
        logging.getLogger(name).setLevel(logging.INFO)
    logging.getLogger("svi_lda.streaming.streamer").setLevel(logging.WARNING)
    from svi_lda.streaming import Streamer, StreamError, StreamSettings
    from svi_lda.text import Tokenizer

    snapshot_every = args.snapshot_every
    if snapshot_every is None and args.snapshot_seconds is None:
        snapshot_every = 20
    settings = StreamSettings(
        batch_size=args.batch_size,
        schedule=args.schedule,
        drift_window=args.drift_window,
        max_vocabulary=args.max_vocabulary,
        snapshot_every=snapshot_every,
        snapshot_seconds=args.snapshot_seconds,
        poll_seconds=args.poll_seconds,
        text_field=args.text_field,
    )
    client = None
    if args.scheduler:
        from svi_lda.distributed.cluster import connect

        client = connect(args.scheduler)
    printer = _ProgressPrinter(args.log_every)
    try:
        streamer = Streamer(
            args.source,
            args.model,
            n_components=args.topics,
            settings=settings,
            model_params={
                "random_state": args.seed,
                "learning_method": args.method,
                "dtype": args.dtype,
                "learning_offset": args.learning_offset,
                "learning_decay": args.learning_decay,
                "n_jobs": args.threads,
            },
            tokenizer=Tokenizer(stop_words=None if args.stop_words == "none" else "english"),
            client=client,
            progress=printer,
        )
        ledger = streamer.run(once=args.once, max_steps=args.max_steps)
    except (StreamError, FileNotFoundError, ValueError) as exc:
        print(f"svi-lda stream: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
    print(
        f"stopped: {ledger.n_docs:,} documents from {len(ledger.done)} files in "
        f"{args.model}", file=sys.stderr,
    )
    return 0


class _ProgressPrinter:
    """One line per ``every`` steps and at each snapshot, on stderr."""

    def __init__(self, every: int) -> None:
        self.every = max(1, every)

    def __call__(self, p) -> None:
        if p.step % self.every and p.snapshot_seconds is None:
            return
        line = (
            f"step {p.step:>7,}  files {p.files:>5,}  docs {p.docs:>11,}  "
            f"{p.docs_per_second:>8,.0f} docs/s  rho {p.rho:.4f}  vocabulary {p.vocabulary_size:,}"
            f"  {p.figure_name}/token {p.bound_per_token:.4f}"
        )
        if p.snapshot_seconds is not None:
            line += f"  snapshot {p.snapshot_seconds:.3f} s"
        print(line, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
