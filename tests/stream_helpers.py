"""Generated streams for the streaming tests: LDA documents written as text files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linear_sum_assignment


def word(i: int) -> str:
    """The word for true id ``i`` (letters only, so any tokenizer keeps it)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "w" + "".join(letters[int(d)] for d in f"{i:04d}")


def texts_of(X: sp.csr_matrix, words: list[str] | None = None) -> list[str]:
    """Each row of a count matrix as a text (words repeated by count, in id order)."""
    X = sp.csr_matrix(X)
    out = []
    for d in range(X.shape[0]):
        lo, hi = X.indptr[d], X.indptr[d + 1]
        ids = np.repeat(X.indices[lo:hi], X.data[lo:hi].astype(np.int64))
        out.append(" ".join(words[i] if words else word(i) for i in ids))
    return out


def write_jsonl(path: Path, texts: list[str]) -> None:
    """JSON Lines with a ``text`` field, written then renamed (the publishing convention)."""
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    tmp.rename(path)


def write_stream(folder: Path, texts: list[str], docs_per_file: int, prefix: str = "f",
                 first: int = 0) -> list[str]:
    """Texts into consecutive files ``<prefix><n>.jsonl``; returns the file names."""
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i, start in enumerate(range(0, len(texts), docs_per_file)):
        name = f"{prefix}{first + i:05d}.jsonl"
        write_jsonl(folder / name, texts[start : start + docs_per_file])
        names.append(name)
    return names


def topics_in_true_ids(model, n_features: int) -> np.ndarray:
    """The model's topic-word distributions over the true ids (words ``word(i)``)."""
    topics = model.get_topics()
    out = np.zeros((topics.shape[0], n_features))
    index = {word(i): i for i in range(n_features)}
    for j, w in enumerate(model.vocabulary_.words):
        if w in index:
            out[:, index[w]] = topics[:, j]
    return out / out.sum(axis=1, keepdims=True)


def matched_tv_distance(estimated: np.ndarray, true: np.ndarray) -> float:
    """Mean total-variation distance between true topics and estimated ones, matched by
    the Hungarian algorithm (scipy.optimize.linear_sum_assignment) on that distance."""
    cost = 0.5 * np.abs(true[:, None, :] - estimated[None, :, :]).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


def lda_documents(topics: np.ndarray, n_docs: int, *, doc_length: int = 60, alpha: float = 0.1,
                  seed: int = 0) -> sp.csr_matrix:
    """Documents drawn from LDA with the given topics (rows of ``topics`` sum to 1)."""
    rng = np.random.default_rng(seed)
    k, v = topics.shape
    theta = rng.dirichlet(np.full(k, alpha), size=n_docs)
    rows = []
    for d in range(n_docs):
        per_topic = rng.multinomial(doc_length, theta[d])
        counts = np.zeros(v)
        for t in np.flatnonzero(per_topic):
            counts += rng.multinomial(per_topic[t], topics[t])
        rows.append(counts)
    return sp.csr_matrix(np.array(rows))


def drifting_topics(n_components: int, n_features: int, *, eta: float = 0.01,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Topics before and after a drift: afterwards each topic keeps half of its mass on its
    old words and moves the other half to words given by a fixed random permutation."""
    rng = np.random.default_rng(seed)
    before = rng.dirichlet(np.full(n_features, eta), size=n_components)
    moved = before[:, rng.permutation(n_features)]
    return before, 0.5 * before + 0.5 * moved
