"""svi-lda: Latent Dirichlet Allocation by stochastic variational inference, fast and at scale.

>>> from svi_lda import OnlineLDA, load
>>> model = OnlineLDA(n_components=20, random_state=0).fit(X)      # doctest: +SKIP
>>> theta = model.transform(X_new)                                  # doctest: +SKIP
>>> model.save("model_dir"); model = load("model_dir")              # doctest: +SKIP
"""

from svi_lda._validation import NotFittedError
from svi_lda.batch import Batch
from svi_lda.estimator import OnlineLDA
from svi_lda.persistence import ModelFileError
from svi_lda.persistence import load_model as load
from svi_lda.schedule import RobbinsMonro
from svi_lda.state import GlobalState
from svi_lda.step import StepMetrics

__all__ = [
    "Batch",
    "GlobalState",
    "ModelFileError",
    "NotFittedError",
    "OnlineLDA",
    "RobbinsMonro",
    "StepMetrics",
    "fit_distributed",
    "load",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    # Lazy, so that ``import svi_lda`` does not import dask/distributed.
    if name == "fit_distributed":
        from svi_lda.distributed import fit_distributed

        return fit_distributed
    raise AttributeError(f"module 'svi_lda' has no attribute {name!r}")
