"""svi-lda: Latent Dirichlet Allocation by stochastic variational inference, fast and at scale."""

from svi_lda.batch import Batch

__all__ = ["Batch"]
__version__ = "0.1.0"
