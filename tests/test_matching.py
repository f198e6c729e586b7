"""Topic matching: Hungarian pairs by Hellinger distance, merges and splits."""

from __future__ import annotations

import numpy as np
import pytest

from svi_lda.evaluation import match_topics
from svi_lda.evaluation.matching import hellinger_distances, shared_mass


def _disjoint_topics(n_topics, words_each):
    topics = np.zeros((n_topics, n_topics * words_each))
    for k in range(n_topics):
        topics[k, k * words_each : (k + 1) * words_each] = 1.0 / words_each
    return topics


def test_distances_against_plain_formulas():
    rng = np.random.default_rng(0)
    a, b = rng.dirichlet(np.ones(20), 3), rng.dirichlet(np.ones(20), 4)
    for i in range(3):
        for j in range(4):
            h = np.sqrt(0.5 * np.sum((np.sqrt(a[i]) - np.sqrt(b[j])) ** 2))
            assert hellinger_distances(a, b)[i, j] == pytest.approx(h, abs=1e-7)
            assert shared_mass(a, b)[i, j] == pytest.approx(np.minimum(a[i], b[j]).sum())


def test_permuted_topics_match_exactly():
    truth = _disjoint_topics(5, 4)
    order = np.array([3, 0, 4, 1, 2])
    m = match_topics(truth, truth[order])
    assert sorted((i, j) for i, j, _ in m.pairs) == sorted(
        (int(order[j]), j) for j in range(5)
    )
    assert m.mean_distance == pytest.approx(0.0, abs=1e-7)
    assert m.split_in_a == [] and m.split_in_b == []


def test_merge_and_split_are_found():
    truth = _disjoint_topics(4, 6)  # topics 0..3
    first_half, second_half = truth[2].copy(), truth[2].copy()
    first_half[15:] = 0.0
    second_half[:15] = 0.0
    ours = np.stack([
        (truth[0] + truth[1]) / 2,  # ours merges 0 and 1
        first_half,  # ours splits 2 into two halves
        second_half,
        truth[3],
    ])
    ours = ours + 1e-12
    m = match_topics(truth, ours)
    # truth topic 2 is split in ours (our 1 and 2); our topic 0 is split in truth (0 and 1)
    assert m.split_in_b == [(2, [1, 2])]
    assert m.split_in_a == [(0, [0, 1])]
    assert (3, 3) in [(i, j) for i, j, _ in m.pairs]


def test_a_background_topic_is_not_a_piece_of_everything():
    truth = _disjoint_topics(4, 6)
    background = np.full(truth.shape[1], 1.0 / truth.shape[1])
    # each of ours is a true topic plus the same common words, and one pure background
    ours = np.vstack([0.6 * truth + 0.4 * background, background])
    m = match_topics(ours, np.vstack([truth, background]))
    assert m.split_in_a == [] and m.split_in_b == []
