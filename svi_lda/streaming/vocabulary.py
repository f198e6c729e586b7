"""A vocabulary that grows with the stream, under a cap, without ever renumbering a word.

Growth: a word never seen gets the lowest free slot, or else the next id; its column of
lambda starts at the prior (a zero row of W in the lazy form, :meth:`GlobalState.grow`),
so it can rise to the top of a topic as documents use it. New words of a minibatch get
their ids in the order they first appear in it (the order of the document sequence), so
ids do not depend on timing.

The cap (``max_vocabulary``) and the pruning rule: when a minibatch brings more new words
than there is room for, the words with the smallest decayed count are retired, where the
decayed count of word w is its expected count in the model, ``scale * sum_k W[w, k]``
(each step multiplies it by ``1 - rho`` and adds the minibatch's counts: an exponentially
decayed frequency that the model keeps anyway). Words of the current minibatch are never
retired; ties go to the lower id. Enough are retired to leave a tenth of the cap free, so
the O(K V) ranking runs once per ``max_vocabulary / 10`` new words, not every step.

A retired word's id becomes a *free slot*: its column goes back to the prior, its
frequencies to zero, and the next new word takes it. Surviving words keep their ids, so a
saved model stays consistent with its own vocabulary file and a reader that loaded an
older snapshot keeps a consistent model. In a saved vocabulary a free slot holds the
marker word ``"\\x00free-<id>"``, which no tokenizer produces.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence

import numpy as np

from svi_lda.state import GlobalState
from svi_lda.text.tokenizer import Tokenizer
from svi_lda.text.vocabulary import Vocabulary

FREE_PREFIX = "\x00free-"
HEADROOM = 0.1


def is_free_slot(word: str) -> bool:
    """Whether ``word`` is the marker of a free slot."""
    return word.startswith(FREE_PREFIX)


class GrowingVocabulary:
    """Words with ids that never change, document and token counts, free slots.

    Parameters
    ----------
    words : sequence of str
        Word ``i`` has id ``i`` (free-slot markers allowed).
    tokenizer : Tokenizer
    document_frequency, corpus_frequency : array-like of int, optional
    max_size : int or None
        The cap on ids (``max_vocabulary``); None for no cap.
    """

    def __init__(
        self,
        words: Sequence[str],
        tokenizer: Tokenizer,
        document_frequency: np.ndarray | None = None,
        corpus_frequency: np.ndarray | None = None,
        max_size: int | None = None,
    ) -> None:
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_vocabulary must be None or >= 1; got {max_size!r}")
        self.tokenizer = tokenizer
        self.max_size = max_size
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words) if not is_free_slot(w)}
        self.free = [i for i, w in enumerate(self.words) if is_free_slot(w)]
        heapq.heapify(self.free)
        n = len(self.words)
        self._counts = np.zeros((max(n, 1024), 2), dtype=np.int64)
        if document_frequency is not None:
            self._counts[:n, 0] = document_frequency
        if corpus_frequency is not None:
            self._counts[:n, 1] = corpus_frequency
        self.n_retired = 0
        self._retired: list[np.ndarray] = []

    @classmethod
    def from_model_vocabulary(
        cls, vocab: Vocabulary | Sequence[str] | None, max_size: int | None,
        tokenizer: Tokenizer | None = None,
    ) -> GrowingVocabulary:
        """From a model's ``vocabulary_`` (a Vocabulary, a list of words, or None)."""
        if isinstance(vocab, Vocabulary):
            return cls(
                vocab.words, vocab.tokenizer or tokenizer or Tokenizer(),
                vocab.document_frequency, vocab.corpus_frequency, max_size,
            )
        return cls(list(vocab or []), tokenizer or Tokenizer(), max_size=max_size)

    def __len__(self) -> int:
        """Ids in use or free: the model's ``n_features``."""
        return len(self.words)

    @property
    def n_words(self) -> int:
        """Words in the vocabulary (free slots not counted)."""
        return len(self.index)

    def to_vocabulary(self) -> Vocabulary:
        """A :class:`Vocabulary` for saving and queries (O(V): at snapshots, not per step)."""
        n = len(self.words)
        return Vocabulary(
            self.words, self._counts[:n, 0].copy(), self._counts[:n, 1].copy(), self.tokenizer
        )

    def count(self, indices: np.ndarray, counts: np.ndarray) -> None:
        """Add a minibatch's non-zeros (model ids, counts) to the frequencies: O(nnz)."""
        np.add.at(self._counts[:, 0], indices, 1)
        np.add.at(self._counts[:, 1], indices, counts.astype(np.int64))

    def assign(self, words: Sequence[str], state: GlobalState | None) -> np.ndarray:
        """Ids of a minibatch's distinct ``words`` (int64; -1 for a word left out).

        New words are added (in the order given), growing ``state`` by zero rows; past
        the cap the rarest other words are retired first (module doc). A word is left out
        only when the minibatch alone holds more distinct words than the cap.
        """
        ids = np.fromiter(map(self.index.get, words, itertools.repeat(-1)), np.int64,
                          len(words))
        new = np.flatnonzero(ids < 0)
        if len(new) == 0:
            return ids
        room = self._room()
        if len(new) > room and state is not None:
            self._retire(len(new) - room, keep=ids[ids >= 0], state=state)
            room = self._room()
        if len(new) > room:
            new = new[:room]
        n_appended = 0
        for pos in new:
            word = words[pos]
            if self.free:
                slot = heapq.heappop(self.free)
                self.words[slot] = word
            else:
                slot = len(self.words)
                self.words.append(word)
                n_appended += 1
            self.index[word] = slot
            ids[pos] = slot
        self._ensure_counts(len(self.words))
        if state is not None:
            state.grow(n_appended)
        return ids

    def _room(self) -> int:
        if self.max_size is None:
            return np.iinfo(np.int64).max
        return max(0, self.max_size - len(self.words)) + len(self.free)

    def _retire(self, needed: int, keep: np.ndarray, state: GlobalState) -> None:
        """Free at least ``needed`` slots (plus the headroom), rarest words first."""
        n = len(self.words)
        target = needed + int(HEADROOM * self.max_size)
        occupied = np.ones(n, dtype=bool)
        occupied[self.free] = False
        occupied[keep] = False
        candidates = np.flatnonzero(occupied)
        mass = state.word_topic[:n].sum(axis=1, dtype=np.float64)[candidates]
        order = np.lexsort((candidates, mass))  # by mass, then id
        retired = np.sort(candidates[order[:target]])
        state.reset_words(retired)
        for i in retired.tolist():
            del self.index[self.words[i]]
            self.words[i] = f"{FREE_PREFIX}{i}"
            heapq.heappush(self.free, i)
        self._counts[retired] = 0
        self.n_retired += len(retired)
        self._retired.append(retired)

    def take_retired(self) -> np.ndarray:
        """Ids retired since the last call (their per-word statistics elsewhere reset)."""
        out = np.concatenate(self._retired) if self._retired else np.zeros(0, np.int64)
        self._retired = []
        return out

    def _ensure_counts(self, n: int) -> None:
        if n > len(self._counts):
            grown = np.zeros((max(2 * len(self._counts), n), 2), dtype=np.int64)
            grown[: len(self._counts)] = self._counts
            self._counts = grown
