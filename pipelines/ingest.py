"""``svi-lda ingest INPUT... --out CORPUS_DIR``: raw text to a Parquet bag-of-words corpus.

Runs both passes on a Dask cluster: a local one sized to the machine by default,
``--scheduler ADDRESS`` to use an existing one, or ``--no-dask`` to stay in this process.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from pipelines._args import POSITIVE, OneLineParser, float_in
from svi_lda.corpus import IngestError, InputError, ingest
from svi_lda.corpus.files import one_line
from svi_lda.corpus.format import DEFAULT_ROW_GROUP_SIZE, CorpusError
from svi_lda.corpus.sources import DEFAULT_BLOCK_BYTES
from svi_lda.distributed.cluster import SchedulerUnreachableError
from svi_lda.text import DEFAULT_TOKEN_PATTERN, Tokenizer


def _number(text: str) -> float:
    """min/max df: an int >= 0 is a document count, a float in [0, 1] a proportion (as
    scikit-learn); checked here, since the library checks only after the counting pass."""
    try:
        value = float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if isinstance(value, float) and not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"a float is a proportion of documents in [0, 1]; got {text} "
            "(an int is a document count)")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {text}")
    return value


def _words_file(path: str | None, option: str) -> list[str]:
    """The words of a list file (a local path or a URL), one a line, ``#`` comments."""
    if not path:
        return []
    from svi_lda import storage

    try:
        data = storage.read_bytes(storage.location(path))
    except FileNotFoundError:
        raise InputError(f"{option} {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"{option} {path}: cannot be read ({one_line(exc)})") from None
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{option} {path}: not UTF-8 text (byte {exc.start})") from None
    return [w.strip() for w in lines if w.strip() and not w.lstrip().startswith("#")]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = OneLineParser(
        prog="svi-lda ingest",
        description="Turn text (folders of .txt, TSV/CSV, JSON Lines, Parquet; optionally "
        "gz/bz2/xz/zst compressed) into a Parquet bag-of-words corpus folder.",
    )
    p.add_argument("inputs", nargs="+", help="files, folders or glob patterns; local paths "
                   "or URLs (s3://bucket/raw/, needs the s3 extra)")
    p.add_argument("--out", "-o", required=True, help="output corpus folder, or a URL")
    p.add_argument("--overwrite", action="store_true", help="replace a corpus already in --out")
    g = p.add_argument_group("input")
    g.add_argument("--text-field", default="text", help="column/field holding the text")
    g.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="FIELD",
        help="also store this column (e.g. an id or label); repeatable",
    )
    g.add_argument("--strict", action="store_true", help="stop at the first bad record")
    g.add_argument(
        "--keep-empty", action="store_true", help="write documents with no words left as empty rows"
    )
    g = p.add_argument_group("tokenizer")
    g.add_argument("--no-lowercase", action="store_true", help="do not lowercase")
    g.add_argument("--token-pattern", default=DEFAULT_TOKEN_PATTERN, help="regex of a token")
    g.add_argument("--min-length", type=POSITIVE, default=2, help="shortest token, in characters")
    g.add_argument("--max-length", type=POSITIVE, default=None, help="longest token, in characters")
    g.add_argument(
        "--stop-words", choices=["english", "none"], default="none", help="built-in stop-word list"
    )
    g.add_argument("--stop-words-file", help="file (or URL) of extra stop words, one per line")
    g = p.add_argument_group("vocabulary")
    g.add_argument(
        "--min-df",
        type=_number,
        default=1,
        help="keep words in at least this many documents (float: proportion)",
    )
    g.add_argument(
        "--max-df",
        type=_number,
        default=1.0,
        help="keep words in at most this many documents (float: proportion)",
    )
    g.add_argument(
        "--max-features",
        type=POSITIVE,
        default=None,
        help="keep at most this many words (most frequent)",
    )
    g.add_argument("--keep-words", help="file (or URL) of words always kept, one per line")
    g.add_argument("--drop-words", help="file (or URL) of words always dropped, one per line")
    g = p.add_argument_group("output and execution")
    g.add_argument(
        "--row-group-size",
        type=POSITIVE,
        default=DEFAULT_ROW_GROUP_SIZE,
        help="documents per row group (the training unit of work)",
    )
    g.add_argument(
        "--block-mb",
        type=float_in(0.0),
        default=DEFAULT_BLOCK_BYTES / 2**20,
        help="input partition size in MiB (bounds memory per worker)",
    )
    g.add_argument("--scheduler", help="address of an existing Dask scheduler")
    g.add_argument(
        "--workers",
        type=POSITIVE,
        default=None,
        help="local cluster size (default: number of CPUs)",
    )
    g.add_argument("--no-dask", action="store_true", help="run in this process, no cluster")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    return p


class _Progress:
    """One status line on stderr, rewritten in place."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr is not None
        self.t0 = time.perf_counter()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        label = {"count": "pass 1/2 counting words", "write": "pass 2/2 writing parquet"}
        width = 30
        fill = int(width * done / max(total, 1))
        sys.stderr.write(
            f"\r{label.get(stage, stage):<26} [{'#' * fill}{'.' * (width - fill)}] "
            f"{done}/{total} partitions  {time.perf_counter() - self.t0:6.1f} s"
        )
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the ingest command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        stop = _words_file(args.stop_words_file, "--stop-words-file")
        keep_words = _words_file(args.keep_words, "--keep-words")
        drop_words = _words_file(args.drop_words, "--drop-words")
    except InputError as exc:
        print(f"svi-lda ingest: error: {exc}", file=sys.stderr)
        return 1
    if args.stop_words == "english":
        stop_words = "english" if not stop else sorted(set(stop) | _english())
    else:
        stop_words = stop or None
    try:
        tokenizer = Tokenizer(
            lowercase=not args.no_lowercase,
            token_pattern=args.token_pattern,
            min_length=args.min_length,
            max_length=args.max_length,
            stop_words=stop_words,
        )
    except ValueError as exc:
        print(f"svi-lda ingest: {exc}", file=sys.stderr)
        return 2

    from svi_lda import storage
    from svi_lda.storage import StorageError

    try:
        # before pass 1, not after both: a missing bucket or an uninstalled protocol
        storage.check_output(storage.location(args.out), folder=True)
    except StorageError as exc:
        print(f"svi-lda ingest: error: {exc}", file=sys.stderr)
        return 1
    client = cluster = None
    try:
        if not args.no_dask:
            from distributed import Client

            from svi_lda.distributed import connect, local_cluster

            # Dask's loggers default to INFO: keep its start-up chatter off the output.
            logging.getLogger("distributed").setLevel(logging.WARNING)
            if args.scheduler:
                client = connect(args.scheduler)
            else:
                # As train's: loopback only (its HTTP server on a free local port), one
                # thread per worker, Dask's housekeeping tuned down.
                cluster = local_cluster(args.workers, 1)
                client = Client(cluster)
        report = ingest(
            args.inputs,
            args.out,
            text_field=args.text_field,
            keep_fields=args.keep,
            tokenizer=tokenizer,
            min_df=args.min_df,
            max_df=args.max_df,
            max_features=args.max_features,
            keep_words=keep_words,
            drop_words=drop_words,
            row_group_size=args.row_group_size,
            block_bytes=int(args.block_mb * 2**20),
            client=client,
            strict=args.strict,
            keep_empty=args.keep_empty,
            overwrite=args.overwrite,
            progress=_Progress(not args.quiet),
        )
    except (
        # the errors that mean bad input or settings; anything else is a bug: a traceback
        InputError, IngestError, CorpusError, StorageError, FileNotFoundError,
        SchedulerUnreachableError,
    ) as exc:
        print(f"svi-lda ingest: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    print(report.summary())
    return 0


def _english() -> set[str]:
    from svi_lda.text import ENGLISH_STOP_WORDS

    return set(ENGLISH_STOP_WORDS)


if __name__ == "__main__":
    sys.exit(main())
