"""``svi-lda select-k``: fit several numbers of topics on part of a corpus and compare.

    svi-lda select-k CORPUS_DIR --topics 10 20 50 100 [--method online|batch|cvb0]
                     [--passes 10] [--held-out 0.1] [--scheduler ADDRESS]
                     [--plot curves.png|curves.html] [--json FILE]

Holds out a share of the documents (by a hash of their id), fits each K on the rest
(one K per task on the Dask cluster at ADDRESS when given, else one after another here),
and prints for each K the training ELBO per token, the held-out log predictive per token,
NPMI and topic diversity, each criterion's pick, and the recommended K with its reason.
"""

from __future__ import annotations

import argparse
import sys

from pipelines._args import OneLineParser, location, output_file, output_folder


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda select-k``."""
    p = OneLineParser(
        prog="svi-lda select-k",
        description="Compare numbers of topics on held-out documents and recommend one.",
    )
    p.add_argument("corpus", type=location,
                   help="corpus folder (made by 'svi-lda ingest'), or a URL (s3://...)")
    p.add_argument("--topics", "-k", type=int, nargs="+", required=True,
                   help="the K values to try, e.g. 10 20 50 100")
    p.add_argument("--method", choices=("online", "batch", "cvb0"), default="online",
                   help="learning method (default online)")
    p.add_argument("--passes", type=int, default=10, help="passes over the training part")
    p.add_argument("--held-out", type=float, default=0.1,
                   help="share of documents held out (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--knee", type=float, default=0.9, help="share of the best held-out gain "
                   "the recommended K must reach (default 0.9)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler: fit the K values in parallel there")
    p.add_argument("--work-dir", type=output_folder,
                   help="where to write the two parts of the corpus (must be visible to "
                   "the workers; default a temporary folder)")
    p.add_argument("--plot", type=output_file, metavar="FILE",
                   help="draw the curves: .png (needs matplotlib) or .html (needs bokeh); a "
                   "path or a URL")
    p.add_argument("--json", type=output_file, metavar="FILE",
                   help="also write the figures as JSON (a path or a URL)")
    p.add_argument("--timeout", type=float, default=20.0)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda select-k``; returns the exit code."""
    args = build_parser().parse_args(argv)
    import json

    from svi_lda.corpus import CorpusError
    from svi_lda.evaluation.select_k import plot_selection, select_k

    client = None
    try:
        if args.scheduler:
            from svi_lda.distributed import SchedulerUnreachableError, connect

            try:
                client = connect(args.scheduler, timeout=args.timeout)
            except SchedulerUnreachableError as exc:
                print(f"svi-lda select-k: error: {exc}", file=sys.stderr)
                return 2
        selection = select_k(
            args.corpus, args.topics, method=args.method, passes=args.passes,
            held_out=args.held_out, seed=args.seed, client=client, work_dir=args.work_dir,
            knee=args.knee,
        )
    except (CorpusError, ValueError) as exc:
        print(f"svi-lda select-k: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()
    print(selection.format())
    if args.json:
        from svi_lda import storage

        try:
            storage.write_bytes(args.json, json.dumps(selection.to_dict(), indent=1).encode())
        except (OSError, ValueError) as exc:
            print(f"svi-lda select-k: error: cannot write {args.json}: {exc}", file=sys.stderr)
            return 1
    if args.plot:
        try:
            print(f"curves drawn to {plot_selection(selection, args.plot)}")
        except ImportError as exc:
            print(f"svi-lda select-k: error: {exc}", file=sys.stderr)
            return 2
        except (OSError, ValueError) as exc:
            print(f"svi-lda select-k: error: cannot write {args.plot}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
