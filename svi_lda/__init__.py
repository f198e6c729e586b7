"""svi-lda: Latent Dirichlet Allocation by stochastic variational inference, fast and at scale.

>>> from svi_lda import OnlineLDA, load
>>> model = OnlineLDA(n_components=20, random_state=0).fit(X)      # doctest: +SKIP
>>> theta = model.transform(X_new)                                  # doctest: +SKIP
>>> model.save("model_dir"); model = load("model_dir")              # doctest: +SKIP
"""

from svi_lda._validation import NotFittedError
from svi_lda.batch import Batch
from svi_lda.estimator import OnlineLDA
from svi_lda.estimator import load_model as load
from svi_lda.persistence import ModelFileError
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState
from svi_lda.step import StepMetrics

__all__ = [
    "Batch",
    "GlobalState",
    "ModelFileError",
    "NotFittedError",
    "OnlineLDA",
    "ParquetCorpus",
    "RobbinsMonro",
    "StepMetrics",
    "Tokenizer",
    "Vocabulary",
    "fit_distributed",
    "load",
]
__version__ = "0.1.0"


_LAZY = {
    # Imported on first use, so that ``import svi_lda`` stays light (no dask, no pyarrow).
    "fit_distributed": ("svi_lda.distributed", "fit_distributed"),
    "ParquetCorpus": ("svi_lda.corpus", "ParquetCorpus"),
    "Tokenizer": ("svi_lda.text", "Tokenizer"),
    "Vocabulary": ("svi_lda.text", "Vocabulary"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'svi_lda' has no attribute {name!r}")
