"""How a stream scales its steps: the effective corpus size D and the step size rho.

SVI scales a minibatch's statistics by D / S (D the corpus size, S the minibatch size); an
unbounded stream has no D. Two named modes (design notes, section 8):

``"stationary"`` (the default)
    D = documents the model has seen, this minibatch included (``n_docs_seen``: a model
    trained before it streams counts its training documents), and
    ``rho_t = min((tau0 + t) ** -kappa, S / D)``: a step never replaces more of the model
    than the minibatch's share of the documents seen. Each step's target extrapolates the
    minibatch to the whole stream so far, so after N documents the model weighs document
    u by about 2u/N: old documents keep weight in proportion to their position and never
    fade away exponentially, which plain Robbins-Monro (``sum rho`` diverging) would do on
    an unbounded stream. Use it when the topics do not change over time, or when the model
    should summarise the whole stream.

``"drift"``
    D = ``drift_window`` documents, a fixed effective size, and rho never falls below
    S / ``drift_window``: lambda is then an exponential moving average whose memory is
    about the last ``drift_window`` documents, and D says the same. Old documents fade
    and the topics follow a stream whose subjects change (news, tickets). Use it when
    recent documents matter more than old ones; pick the window as the number of
    documents over which topics may be taken as steady.

``partial_fit`` keeps scikit-learn's meaning instead (``total_samples``, a fixed D).
"""

from __future__ import annotations

from dataclasses import dataclass

from svi_lda.schedule import RobbinsMonro

MODES = ("stationary", "drift")


@dataclass(frozen=True)
class StreamScaling:
    """The step scaling of a stream (see the module docstring).

    Parameters
    ----------
    mode : {"stationary", "drift"}
    batch_size : int
        S, documents per minibatch.
    drift_window : int
        The effective corpus size of the "drift" mode (documents).
    tau0, kappa : float
        The Robbins-Monro schedule (scikit-learn's learning_offset, learning_decay).
    """

    mode: str = "stationary"
    batch_size: int = 512
    drift_window: int = 25_000
    tau0: float = 10.0
    kappa: float = 0.7

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(
                f"The stream's 'schedule' must be a str among {set(MODES)}. Got {self.mode!r} "
                "instead."
            )
        if self.drift_window < self.batch_size:
            raise ValueError(
                f"drift_window ({self.drift_window}) must be at least the batch size "
                f"({self.batch_size}) documents."
            )

    def rho(self, step: int, n_docs_before: int, n_docs: int) -> float:
        """rho for the step taken after ``step`` steps and ``n_docs_before`` documents."""
        decay = RobbinsMonro(tau0=self.tau0, kappa=self.kappa).rho(step)
        if self.mode == "drift":
            return max(decay, self.batch_size / self.drift_window)
        return min(decay, n_docs / (n_docs_before + n_docs))

    def total_samples(self, n_docs_before: int, n_docs: int) -> float:
        """D for a step on ``n_docs`` documents after ``n_docs_before`` were used."""
        if self.mode == "drift":
            return float(self.drift_window)
        return float(n_docs_before + n_docs)
