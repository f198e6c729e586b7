"""Inter-topic distances and their 2-D map (the layout LDAvis popularised).

Distances are Jensen-Shannon distances (the square root of the JS divergence, natural
log) between the topics' word distributions; the map is classical multidimensional
scaling (principal coordinates) of those distances.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh
from scipy.spatial.distance import pdist, squareform


def topic_distances(topic_word: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distances between topics, shape (K, K), symmetric, zero diagonal.

    Parameters
    ----------
    topic_word : ndarray of shape (n_components, n_features)
        Each row a word distribution.
    """
    topics = np.asarray(topic_word, dtype=np.float64)
    if topics.shape[0] < 2:
        return np.zeros((topics.shape[0], topics.shape[0]))
    dist = squareform(pdist(topics, metric="jensenshannon"))
    # Identical rows can give a NaN from 0/0 inside the metric; they are at distance 0.
    return np.nan_to_num(dist, nan=0.0)


def classical_mds(distances: np.ndarray, n_dims: int = 2) -> np.ndarray:
    """Principal coordinates of a distance matrix, shape (n, n_dims).

    Double-centres the squared distances and takes the eigenvectors of the largest
    eigenvalues, scaled by their square roots (Torgerson 1952). Axes with a non-positive
    eigenvalue are zero. Each axis' sign is fixed so that its largest coordinate (in
    absolute value) is positive, which makes the map reproducible.
    """
    d = np.asarray(distances, dtype=np.float64)
    n = d.shape[0]
    if n == 0:
        return np.zeros((0, n_dims))
    centre = np.eye(n) - 1.0 / n
    b = -0.5 * centre @ (d**2) @ centre
    values, vectors = eigh((b + b.T) / 2)
    order = np.argsort(values)[::-1][:n_dims]
    coords = np.zeros((n, n_dims))
    for axis, i in enumerate(order):
        if values[i] > 1e-12:
            column = vectors[:, i] * np.sqrt(values[i])
            if column[np.argmax(np.abs(column))] < 0:
                column = -column
            coords[:, axis] = column
    return coords
