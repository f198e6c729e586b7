"""Our variational topics against a collapsed Gibbs sampler's on the same documents.

Mean-field VI under-covers the posterior and can settle in a different mode; the sampler
is the usual ground truth for small and medium corpora. :func:`compare_with_gibbs` fits
both on the training documents, scores both by held-out log predictive on the rest (the
same document-completion code for each), and matches their topics
(:func:`svi_lda.evaluation.match_topics`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svi_lda.evaluation.matching import TopicMatching, match_topics
from svi_lda.evaluation.report import TopicScores, score_topics


@dataclass(frozen=True)
class MCMCComparison:
    """Result of :func:`compare_with_gibbs` ("ours" is the variational model)."""

    n_topics: int
    method: str
    ours: TopicScores
    gibbs: TopicScores
    matching: TopicMatching
    ours_topics: np.ndarray = field(repr=False)
    gibbs_topics: np.ndarray = field(repr=False)
    ours_seconds: float
    gibbs_seconds: float

    def format(self, words: Sequence[str] | None = None, n_words: int = 6) -> str:
        """Human-readable report: scores, matched pairs with top words, splits and merges."""
        def top(topics: np.ndarray, k: int) -> str:
            ids = np.argsort(-topics[k], kind="stable")[:n_words]
            return " ".join(str(words[i]) if words is not None else str(i) for i in ids)

        lines = [
            f"K={self.n_topics}; ours: {self.method} ({self.ours_seconds:.1f} s), "
            f"sampler: collapsed Gibbs ({self.gibbs_seconds:.1f} s)",
            "held-out log predictive per token (document completion, nats; perplexity):",
            f"  ours    {self.ours.log_predictive_per_token:.4f} ({self.ours.perplexity:.1f})"
            f"   NPMI {self.ours.npmi:.3f}",
            f"  sampler {self.gibbs.log_predictive_per_token:.4f} ({self.gibbs.perplexity:.1f})"
            f"   NPMI {self.gibbs.npmi:.3f}",
            f"matched topics (Hungarian on Hellinger distance; mean "
            f"{self.matching.mean_distance:.3f}; 0 = same, 1 = disjoint):",
        ]
        for g, o, d in self.matching.pairs:
            lines.append(f"  sampler {g:>3} ~ ours {o:>3}  distance {d:.3f}")
            lines.append(f"      sampler: {top(self.gibbs_topics, g)}")
            lines.append(f"      ours:    {top(self.ours_topics, o)}")
        t = self.matching.threshold
        lines.append(
            f"splits and merges (two or more topics of one whose best match is the same "
            f"topic of the other, each sharing >= {t:.2f} of its mass with it):"
        )
        for g, pieces in self.matching.split_in_b:
            lines.append(f"  sampler topic {g} is split in ours into {pieces} "
                         "(ours finds these where the sampler has one)")
        for o, pieces in self.matching.split_in_a:
            lines.append(f"  our topic {o} merges sampler topics {pieces} "
                         "(the sampler finds these separately)")
        if not (self.matching.split_in_a or self.matching.split_in_b):
            lines.append("  none")
        return "\n".join(lines)


def compare_with_gibbs(
    train: Any,
    test: Any,
    n_topics: int,
    *,
    method: str = "online",
    passes: int = 20,
    gibbs_iterations: int = 200,
    gibbs_samples: int = 20,
    seed: int = 0,
    threshold: float = 0.3,
    n_jobs: int | None = None,
) -> MCMCComparison:
    """Fit OnlineLDA and the collapsed Gibbs sampler on ``train``; score both on ``test``.

    Both use alpha = eta = 1 / n_topics (OnlineLDA's defaults) so they fit the same model.

    Parameters
    ----------
    train, test : sparse count matrices (n_docs, V) with the same V
    n_topics : int
    method : {"online", "batch", "cvb0"}
        Our learning method; ``passes`` is its ``max_iter``.
    gibbs_iterations, gibbs_samples : int
        Sweeps of the sampler, and how many of the last ones are averaged.
    threshold : float
        Shared mass from which a topic counts as a piece of another (see
        :mod:`svi_lda.evaluation.matching`).
    """
    from svi_lda.estimator import OnlineLDA
    from svi_lda.gibbs import GibbsLDA

    started = time.perf_counter()
    ours = OnlineLDA(n_topics, learning_method=method, max_iter=passes, random_state=seed,
                     n_jobs=n_jobs).fit(train)
    ours_seconds = time.perf_counter() - started
    gibbs = GibbsLDA(n_topics, n_iter=gibbs_iterations, n_samples=gibbs_samples,
                     random_state=seed).fit(train)
    ours_topics, gibbs_topics = ours.get_topics(), gibbs.get_topics()
    alpha = 1.0 / n_topics
    return MCMCComparison(
        n_topics=n_topics,
        method=method,
        ours=score_topics(ours_topics, test, doc_topic_prior=alpha, seed=seed),
        gibbs=score_topics(gibbs_topics, test, doc_topic_prior=alpha, seed=seed),
        matching=match_topics(gibbs_topics, ours_topics, threshold=threshold),
        ours_topics=ours_topics,
        gibbs_topics=gibbs_topics,
        ours_seconds=ours_seconds,
        gibbs_seconds=gibbs.seconds_,
    )
