"""``svi-lda validate``: our model against a collapsed Gibbs sampler on the same data.

    svi-lda validate CORPUS_DIR --topics K [--held-out 0.2] [--method online|batch|cvb0]
                     [--passes 20] [--iterations 200] [--samples 20] [--threshold 0.3]

Holds out a share of the documents (by a hash of their id), fits our model and the
sampler on the rest, and reports each one's held-out log predictive, the matched topics
(Hungarian matching on Hellinger distance) and the topics one splits or merges. The
sampler keeps one topic per token in memory: for small and medium corpora.
"""

from __future__ import annotations

import argparse
import sys

from pipelines._args import location


def build_parser() -> argparse.ArgumentParser:
    """Command-line options of ``svi-lda validate``."""
    p = argparse.ArgumentParser(
        prog="svi-lda validate",
        description="Compare our topics with a collapsed Gibbs sampler's on the same corpus.",
    )
    p.add_argument("corpus", type=location,
                   help="corpus folder (made by 'svi-lda ingest'), or a URL (s3://...)")
    p.add_argument("--topics", "-k", type=int, required=True, help="number of topics K")
    p.add_argument("--held-out", type=float, default=0.2, help="share of documents held "
                   "out for the log predictive (default 0.2)")
    p.add_argument("--method", choices=("online", "batch", "cvb0"), default="online",
                   help="our learning method (default online)")
    p.add_argument("--passes", type=int, default=20, help="our passes over the data")
    p.add_argument("--iterations", type=int, default=200, help="Gibbs sweeps")
    p.add_argument("--samples", type=int, default=20,
                   help="last Gibbs sweeps averaged into the sampler's topics")
    p.add_argument("--threshold", type=float, default=0.3,
                   help="shared mass from which a topic counts as a piece of another")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--top-words", type=int, default=6, help="words shown per topic")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``svi-lda validate``; returns the exit code."""
    args = build_parser().parse_args(argv)
    import numpy as np
    import scipy.sparse as sp

    from svi_lda.corpus import CorpusError, ParquetCorpus
    from svi_lda.evaluation import held_out_documents
    from svi_lda.evaluation.mcmc import compare_with_gibbs

    try:
        corpus = ParquetCorpus(args.corpus)
        X = corpus.to_csr()
        held = held_out_documents(corpus.doc_ids(), args.held_out, args.seed)
    except (CorpusError, ValueError) as exc:
        print(f"svi-lda validate: error: {exc}", file=sys.stderr)
        return 2
    if held.all() or not held.any():
        print(f"svi-lda validate: error: holding out {args.held_out} of {corpus.n_docs} "
              "documents leaves one side empty", file=sys.stderr)
        return 2
    train = sp.csr_matrix(X[np.flatnonzero(~held)])
    test = sp.csr_matrix(X[np.flatnonzero(held)])
    print(f"corpus {corpus.path}: {train.shape[0]} training and {test.shape[0]} held-out "
          f"documents, {corpus.n_features} words")
    result = compare_with_gibbs(
        train, test, args.topics, method=args.method, passes=args.passes,
        gibbs_iterations=args.iterations, gibbs_samples=args.samples, seed=args.seed,
        threshold=args.threshold,
    )
    print(result.format(corpus.vocabulary.words, args.top_words))
    return 0


if __name__ == "__main__":
    sys.exit(main())
