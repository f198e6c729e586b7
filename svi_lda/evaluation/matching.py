"""Matching two sets of topics: one-to-one pairs, and the topics one merges or splits.

- Pairs: the Hungarian assignment (``scipy.optimize.linear_sum_assignment``) minimising
  the total Hellinger distance ``sqrt(1/2 sum_w (sqrt a_w - sqrt b_w)^2)`` in [0, 1].
- Overlap of two topics: the probability mass they share, ``sum_w min(a_w, b_w)`` in
  [0, 1] (1 for equal topics; each half of a topic split in two shares about 1/2 with it).
- Split: a topic ``a`` of one set is *split* by the other set when at least two of the
  other's topics have ``a`` as their best match (largest shared mass) and share at least
  ``threshold`` of their mass with it. Said the other way round, those topics are
  *merged* in the first set. Each direction is reported. Requiring the best match keeps
  a background topic (common words, some mass shared with every topic) from counting as
  a piece of everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment


def _normalised(topics: np.ndarray) -> np.ndarray:
    topics = np.asarray(topics, dtype=np.float64)
    return topics / topics.sum(axis=1, keepdims=True)


def hellinger_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hellinger distance between every row of ``a`` (Ka, V) and of ``b`` (Kb, V)."""
    ra, rb = np.sqrt(_normalised(a)), np.sqrt(_normalised(b))
    # |ra - rb|^2 = 2 - 2 ra.rb for unit vectors; clipped against rounding.
    return np.sqrt(np.clip(1.0 - ra @ rb.T, 0.0, 1.0))


def shared_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_w min(a_kw, b_jw)`` for every pair of rows, shape (Ka, Kb)."""
    a, b = _normalised(a), _normalised(b)
    return np.stack([np.minimum(row[None, :], b).sum(axis=1) for row in a])


@dataclass(frozen=True)
class TopicMatching:
    """The result of :func:`match_topics` (first set "a", second "b").

    Attributes
    ----------
    pairs : list of (int, int, float)
        (topic of a, topic of b, Hellinger distance), by increasing distance.
    split_in_b : list of (int, list of int)
        Topics of a that b splits (b's pieces each have it as best match and share
        >= threshold with it).
    split_in_a : list of (int, list of int)
        Topics of b that a splits.
    threshold : float
    """

    pairs: list[tuple[int, int, float]]
    split_in_b: list[tuple[int, list[int]]]
    split_in_a: list[tuple[int, list[int]]]
    threshold: float

    @property
    def mean_distance(self) -> float:
        """Mean Hellinger distance of the matched pairs."""
        return float(np.mean([d for _, _, d in self.pairs])) if self.pairs else float("nan")


def _splits(overlap: np.ndarray, threshold: float) -> list[tuple[int, list[int]]]:
    """Rows split by the columns: >= 2 columns whose best row is this one, each sharing at
    least ``threshold``."""
    best_row = np.argmax(overlap, axis=0)
    out = []
    for k, row in enumerate(overlap):
        pieces = np.flatnonzero((best_row == k) & (row >= threshold))
        if len(pieces) >= 2:
            pieces = pieces[np.argsort(-row[pieces], kind="stable")]
            out.append((k, [int(j) for j in pieces]))
    return out


def match_topics(a: np.ndarray, b: np.ndarray, *, threshold: float = 0.3) -> TopicMatching:
    """Pair the topics of ``a`` and ``b`` and find the ones either splits (module docstring).

    Parameters
    ----------
    a, b : array of shape (Ka, V) and (Kb, V)
        Topic-word weights (rows are normalised here).
    threshold : float, default=0.3
        Shared mass from which a topic counts as a piece of another.
    """
    distances = hellinger_distances(a, b)
    rows, cols = linear_sum_assignment(distances)
    pairs = sorted(
        ((int(i), int(j), float(distances[i, j])) for i, j in zip(rows, cols, strict=True)),
        key=lambda p: p[2],
    )
    overlap = shared_mass(a, b)
    return TopicMatching(
        pairs=pairs,
        split_in_b=_splits(overlap, threshold),
        split_in_a=_splits(overlap.T, threshold),
        threshold=threshold,
    )
