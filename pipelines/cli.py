"""The ``svi-lda`` console script: dispatches to the pipeline modules.

``svi-lda ingest ...`` is the same as ``python -m pipelines.ingest ...``, and so on.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

COMMANDS = {
    "ingest": ("pipelines.ingest", "turn text files into a Parquet bag-of-words corpus"),
    "train": ("pipelines.train", "fit a topic model on a corpus (local or Dask cluster)"),
    "demo": ("pipelines.demo", "ingest the built-in sample, train, print the topics"),
    "stream": ("pipelines.stream", "keep a model up to date from a folder of new files"),
    "slurm": ("pipelines.slurm", "run train or stream on Dask workers submitted to SLURM"),
    "report": ("pipelines.report", "write a self-contained HTML report of a fitted model"),
    "evaluate": ("pipelines.evaluate", "held-out log predictive, ELBO, coherence of a model"),
    "select-k": ("pipelines.select_k", "fit several K on part of a corpus, compare, recommend"),
    "validate": ("pipelines.validate", "compare our topics with a collapsed Gibbs sampler's"),
}


def main(argv: list[str] | None = None) -> int:
    """Run one ``svi-lda`` subcommand and return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    available = {
        name: spec for name, spec in COMMANDS.items() if importlib.util.find_spec(spec[0])
    }
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in available:
        lines = ["usage: svi-lda COMMAND [options]", "", "commands:"]
        lines += [f"  {name:<8} {help_}" for name, (_, help_) in available.items()]
        print("\n".join(lines), file=sys.stderr if argv else sys.stdout)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nsvi-lda: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0 if argv else 2
    module = importlib.import_module(available[argv[0]][0])
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
