"""Built-in sample data: a 3,000-document slice of 20 Newsgroups for demos and tests.

The sample is 150 documents per newsgroup, drawn with a fixed seed from the 20 Newsgroups
training set as distributed in the project's shared data (lowercased, letters only), in
the same TSV format (header ``label<TAB>text``), gzip-compressed.
"""

from __future__ import annotations

import gzip
from pathlib import Path

_SAMPLE = Path(__file__).parent / "data" / "newsgroups_sample.tsv.gz"


def newsgroups_sample_path() -> Path:
    """Path of the bundled sample, a TSV file ready for ``svi-lda ingest``."""
    if not _SAMPLE.is_file():
        raise FileNotFoundError(f"bundled sample {_SAMPLE} is missing; reinstall svi-lda")
    return _SAMPLE


def load_newsgroups_sample() -> tuple[list[str], list[str]]:
    """The sample as ``(texts, labels)``, in file order."""
    texts: list[str] = []
    labels: list[str] = []
    with gzip.open(newsgroups_sample_path(), "rt", encoding="utf-8", newline="\n") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != ["label", "text"]:
            raise ValueError(f"{_SAMPLE}: unexpected header {header}")
        for line in f:
            label, text = line.rstrip("\n").split("\t", 1)
            labels.append(label)
            texts.append(text)
    return texts, labels
