"""``svi-lda evaluate``: held-out log predictive, ELBO, coherence, diversity, topic sizes.

    svi-lda evaluate MODEL_DIR CORPUS_DIR [--scheduler ADDRESS] [--top-words 10]
                     [--held-out | --training] [--json FILE]

Streams the corpus one row group at a time (on the Dask cluster at ADDRESS when given,
else in this process), so it works on a corpus larger than memory. The corpus must use
the model's vocabulary (ingest it with the model's vocabulary, or evaluate the training
corpus).
"""

from __future__ import annotations

import argparse
import sys

from pipelines._args import OneLineParser, location, output_file


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda evaluate``."""
    p = OneLineParser(
        prog="svi-lda evaluate",
        description="Evaluate a topic model on a corpus folder (streamed by row group).",
    )
    p.add_argument("model", type=location,
                   help="model folder (made by 'svi-lda train' or save), or a URL (s3://...)")
    p.add_argument("corpus", type=location,
                   help="corpus folder (made by 'svi-lda ingest'), or a URL (s3://...)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address or scheduler file (default: in process)")
    p.add_argument("--top-words", type=int, default=10, help="top words per topic for "
                   "coherence (default 10)")
    side = p.add_mutually_exclusive_group()
    side.add_argument("--held-out", dest="held_out", action="store_const", const=True,
                      help="state that the corpus was not used in training")
    side.add_argument("--training", dest="held_out", action="store_const", const=False,
                      help="state that the corpus is the training corpus")
    p.add_argument("--seed", type=int, default=0, help="seed of the token split")
    p.add_argument("--json", type=output_file, metavar="FILE",
                   help="also write the figures as JSON (a path or a URL)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the "
                   "scheduler")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda evaluate``; returns the exit code."""
    args = build_parser().parse_args(argv)
    from svi_lda import load as load_model
    from svi_lda.corpus import CorpusError, ParquetCorpus
    from svi_lda.evaluation import evaluate
    from svi_lda.persistence import ModelFileError

    try:
        model = load_model(args.model)
        corpus = ParquetCorpus(args.corpus)
    except (ModelFileError, CorpusError) as exc:
        print(f"svi-lda evaluate: error: {exc}", file=sys.stderr)
        return 2
    client = None
    try:
        if args.scheduler:
            from svi_lda.distributed import SchedulerUnreachableError, connect

            try:
                client = connect(args.scheduler, timeout=args.timeout)
            except SchedulerUnreachableError as exc:
                print(f"svi-lda evaluate: error: {exc}", file=sys.stderr)
                return 2
        report = evaluate(model, corpus, client, top_n=args.top_words,
                          held_out=args.held_out, seed=args.seed)
    except (ValueError, CorpusError) as exc:
        print(f"svi-lda evaluate: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
    print(report.format())
    if args.json:
        from svi_lda import storage

        try:
            storage.write_bytes(args.json, report.to_json().encode())
        except (OSError, ValueError) as exc:
            print(f"svi-lda evaluate: error: cannot write {args.json}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
