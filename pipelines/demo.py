"""``svi-lda demo``: the README's first command, end to end on the built-in sample.

Ingests the bundled 3,000-document 20 Newsgroups sample into a corpus folder, trains a
topic model in this process on one thread per core (as ``svi-lda train`` does without a
cluster option; ``--workers N`` trains on a local Dask cluster of N worker processes
instead, to the same model), and prints the topics with their top words. Needs nothing
but the installed package; well under a minute on two cores.

    svi-lda demo [--topics 20] [--epochs 8] [--workdir DIR] [--workers N]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

from pipelines._args import OneLineParser, output_folder


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda demo``."""
    p = OneLineParser(
        prog="svi-lda demo",
        description="Ingest the built-in 20 Newsgroups sample, train (in process, or on "
        "a local Dask cluster with --workers) and print the topics.",
    )
    p.add_argument("--topics", "-k", type=int, default=20)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--workers", type=int, default=None,
                   help="train on a local Dask cluster of this many worker processes "
                   "(default: in this process, one thread per core)")
    p.add_argument("--workdir", type=output_folder, default=None,
                   help="keep the corpus and model here, a folder or a URL (s3://...; "
                   "default: a temporary folder)")
    p.add_argument("--top-words", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    return p


def run(args: argparse.Namespace, workdir: Path | str) -> int:
    """Ingest, train and print; ``workdir`` (a folder or a URL) receives ``corpus/`` and
    ``model/``."""
    from distributed import Client

    from pipelines.train import print_topics
    from svi_lda import OnlineLDA, storage
    from svi_lda.corpus import ingest
    from svi_lda.datasets import newsgroups_sample_path
    from svi_lda.distributed import dashboard_link, fit_distributed, local_cluster
    from svi_lda.distributed.in_process import fit_in_process
    from svi_lda.text import Tokenizer

    started = time.perf_counter()
    corpus_dir, model_dir = storage.join(workdir, "corpus"), storage.join(workdir, "model")
    print(f"1/3 ingesting the built-in sample {newsgroups_sample_path().name} -> {corpus_dir}")
    report = ingest(
        newsgroups_sample_path(),
        corpus_dir,
        tokenizer=Tokenizer(stop_words="english"),
        min_df=5,
        max_df=0.5,
        row_group_size=128,
        overwrite=True,
    )
    print(
        f"    {report.n_written:,} documents, {report.n_tokens:,} tokens, "
        f"{report.n_features:,} words ({report.seconds:.1f} s)"
    )
    model = OnlineLDA(
        n_components=args.topics,
        batch_size=args.batch_size,
        doc_topic_prior="auto",
        learning_offset=10.0,
        random_state=args.seed,
    )
    last: list[float] = []

    def progress(report) -> None:
        if report.position == 0 and report.metrics.step > 1 or report.metrics.step == 1:
            last.append(report.metrics.bound_per_token)
            print(f"    step {report.metrics.step:>4}  epoch {report.epoch + 1}  "
                  f"ELBO/token {report.metrics.bound_per_token:.3f}")

    if args.workers is None:
        print(f"2/3 training {args.topics} topics for {args.epochs} epochs in this process "
              f"({model._n_threads()} threads)")
        t0 = time.perf_counter()
        fit_in_process(model, corpus_dir, n_epochs=args.epochs, on_step=progress)
        seconds = time.perf_counter() - t0
    else:
        with local_cluster(args.workers) as cluster, Client(cluster) as client:
            n_workers = len(client.scheduler_info()["workers"])
            print(f"2/3 training {args.topics} topics for {args.epochs} epochs on a local "
                  f"Dask cluster of {n_workers} worker processes")
            print(f"    dashboard: {dashboard_link(client) or 'none'}")
            t0 = time.perf_counter()
            fit_distributed(client, model, corpus_dir, n_epochs=args.epochs,
                            on_step=progress)
            seconds = time.perf_counter() - t0
    docs = model.state_.n_docs_seen
    print(f"    {model.n_batch_iter_} steps, {docs:,} documents in {seconds:.1f} s "
          f"({docs / seconds:,.0f} docs/s)")
    model.save(model_dir)
    kept = "" if args.workdir is not None else ", a temporary folder: --workdir DIR keeps it"
    print(f"3/3 topics (model saved to {model_dir}{kept}):")
    print_topics(model, args.top_words)
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda demo``; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    # Dask's own loggers default to INFO (its config); its start-up chatter is not news here.
    import distributed  # noqa: F401 - its import applies Dask's logging config; override after

    logging.getLogger("distributed").setLevel(logging.WARNING)
    if args.workdir is not None:
        if isinstance(args.workdir, Path):
            args.workdir.mkdir(parents=True, exist_ok=True)
        try:
            return run(args, args.workdir)
        except OSError as exc:  # its corpus and model writes (checked up front, yet a
            # store may still refuse them: permissions, quota)
            print(f"svi-lda demo: error: writing under {args.workdir}: {exc}",
                  file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="svi-lda-demo-") as tmp:
        return run(args, Path(tmp))


if __name__ == "__main__":
    sys.exit(main())
