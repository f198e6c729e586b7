"""Robbins-Monro step sizes for stochastic variational inference."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RobbinsMonro:
    """rho_t = (tau0 + t) ** -kappa (Hoffman et al. 2013, eq. 26).

    With kappa in (0.5, 1], sum rho_t diverges and sum rho_t^2 converges, the conditions
    under which SVI converges to a local optimum. ``t`` counts steps from 1, as
    scikit-learn's ``learning_offset``/``learning_decay`` do.

    Parameters
    ----------
    tau0 : float
        Delay (scikit-learn's ``learning_offset``), >= 0: down-weights early steps.
    kappa : float
        Forgetting rate (scikit-learn's ``learning_decay``), in (0.5, 1].
    """

    tau0: float = 10.0
    kappa: float = 0.7

    def __post_init__(self) -> None:
        if not 0.5 < self.kappa <= 1.0:
            raise ValueError(
                "The 'learning_decay' parameter of OnlineLDA must be a float in the range "
                f"(0.5, 1] (kappa, the forgetting rate). Got {self.kappa!r} instead."
            )
        if self.tau0 < 0:
            raise ValueError(
                "The 'learning_offset' parameter of OnlineLDA must be a float in the range "
                f"[0, inf) (tau0, the delay). Got {self.tau0!r} instead."
            )

    def rho(self, step: int) -> float:
        """Step size for the step taken after ``step`` earlier steps, in (0, 1]."""
        return min(1.0, (self.tau0 + step + 1.0) ** -self.kappa)
