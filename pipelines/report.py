"""``svi-lda report``: one self-contained HTML page showing a fitted model.

    svi-lda report MODEL_DIR [--corpus CORPUS_DIR [--scheduler ADDRESS]] --out report.html
                   [--top-words 12] [--docs 3] [--title TEXT]

The page (no server, no network) shows the training curve, topic sizes, an inter-topic
distance map, each topic's top words with their probabilities and, with ``--corpus``,
each topic's example documents (one pass over the corpus's row groups, on the Dask
cluster at ADDRESS when given, else in this process). Needs the
``report`` extra: ``pip install 'svi-lda[report]'``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from pipelines._args import OneLineParser, location, output_file_in_new_folder


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda report``."""
    p = OneLineParser(
        prog="svi-lda report",
        description="Write a self-contained HTML report of a fitted topic model.",
    )
    p.add_argument("model", type=location,
                   help="model folder (from 'svi-lda train' or save), or a URL (s3://...)")
    p.add_argument("--corpus", type=location, default=None,
                   help="corpus folder the model was trained on: adds example documents")
    p.add_argument("--out", "-o", type=output_file_in_new_folder, default=Path("report.html"),
                   help="HTML file to write, or a URL (default report.html)")
    p.add_argument("--top-words", type=int, default=12, help="words listed per topic")
    p.add_argument("--docs", type=int, default=3, help="example documents per topic")
    p.add_argument("--title", default=None, help="heading of the page")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address or scheduler file: compute the example "
                   "documents on that cluster (default: in process)")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds to wait for the scheduler")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda report``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    for name, value in (("--top-words", args.top_words), ("--docs", args.docs)):
        if value < 1:
            print(f"svi-lda report: error: {name} must be at least 1; got {value}",
                  file=sys.stderr)
            return 2
    from svi_lda import ModelFileError, load, storage
    from svi_lda.corpus import CorpusError, ParquetCorpus

    if args.scheduler and args.corpus is None:
        print("svi-lda report: error: --scheduler computes the example documents, which "
              "need --corpus CORPUS_DIR", file=sys.stderr)
        return 2
    started = time.perf_counter()
    client = None
    try:
        from svi_lda.report import write_report

        model = load(args.model)
        corpus = None if args.corpus is None else ParquetCorpus(args.corpus)
        if args.scheduler:
            from svi_lda.distributed import SchedulerUnreachableError, connect

            try:
                client = connect(args.scheduler, timeout=args.timeout)
            except SchedulerUnreachableError as exc:
                print(f"svi-lda report: error: {exc}", file=sys.stderr)
                return 2
        out = write_report(model, args.out, corpus, n_words=args.top_words,
                           n_docs=args.docs, title=args.title, client=client)
    except ImportError as exc:
        print(f"svi-lda report: error: {exc}", file=sys.stderr)
        return 2
    except (ModelFileError, CorpusError, ValueError) as exc:
        print(f"svi-lda report: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the page's write refused (permissions, a store's quota)
        print(f"svi-lda report: error: {exc} (report {args.out})", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    print(f"report written to {out} ({storage.file_size(out) / 1e6:.1f} MB, "
          f"{time.perf_counter() - started:.1f} s); open it in any browser")
    return 0


if __name__ == "__main__":
    sys.exit(main())
