"""The bag-of-words corpus: Parquet folder format, reader, ingest pipeline, conversions."""

from svi_lda.corpus.convert import from_csr, from_gensim, from_sklearn, from_uci
from svi_lda.corpus.format import (
    DEFAULT_ROW_GROUP_SIZE,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    REJECTS,
    VOCABULARY,
    CorpusError,
)
from svi_lda.corpus.ingest import IngestError, IngestReport, ingest
from svi_lda.corpus.reader import ParquetCorpus, plan_minibatches
from svi_lda.corpus.sources import InputError
from svi_lda.corpus.units import CorpusUnit, read_unit

__all__ = [
    "DEFAULT_ROW_GROUP_SIZE",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "REJECTS",
    "VOCABULARY",
    "CorpusError",
    "CorpusUnit",
    "IngestError",
    "IngestReport",
    "InputError",
    "ParquetCorpus",
    "from_csr",
    "from_gensim",
    "from_sklearn",
    "from_uci",
    "ingest",
    "plan_minibatches",
    "read_unit",
]
