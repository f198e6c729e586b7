"""``OnlineLDA.partial_fit`` on raw text: one step of the model's method (SVI, or SCVB0
for ``learning_method="scvb0"``), growing the model's vocabulary.

Texts are tokenized with the model's vocabulary's tokenizer; words never seen get new ids
(after the existing ones, in order of first appearance) whose columns start at the prior,
as in the streamer (:mod:`svi_lda.streaming.vocabulary`). A model with no state yet starts
from these texts with the default :class:`~svi_lda.text.Tokenizer`.

``total_samples`` keeps scikit-learn's meaning, for every method: D, the corpus size in
documents each minibatch's statistics are scaled to; when it is None, scikit-learn's
default of 1e6 documents. (The streamer scales its steps its own way, in documents too:
:mod:`svi_lda.streaming.scaling`.)

The model's ``vocabulary_`` is rebuilt after each call when it grew (O(V): fine for
``partial_fit``'s use; the streamer rebuilds it only at snapshots).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from svi_lda._params import partial_fit_total_samples
from svi_lda.streaming.encode import encode_pieces
from svi_lda.streaming.readers import Piece
from svi_lda.streaming.vocabulary import GrowingVocabulary
from svi_lda.text.vocabulary import Vocabulary
from svi_lda.training import train_step


def _growing_vocabulary(model: Any) -> GrowingVocabulary:
    """The model's vocabulary in growing form, kept on the model between calls."""
    cached = getattr(model, "_growing_vocabulary", None)
    if cached is not None and cached[0] is model.vocabulary_:
        return cached[1]
    vocab = getattr(model, "vocabulary_", None)
    if getattr(model, "state_", None) is not None:
        if vocab is None:
            raise ValueError(
                "partial_fit on raw text needs a model that carries its vocabulary (fit on "
                "a corpus folder, or pass vocabulary=Vocabulary(...) to fit)."
            )
        if len(vocab) != model.n_features_in_:
            raise ValueError(
                f"the model's vocabulary has {len(vocab)} words for {model.n_features_in_} "
                "columns"
            )
    return GrowingVocabulary.from_model_vocabulary(vocab, max_size=None)


def partial_fit_texts(model: Any, texts: Sequence[str]) -> Any:
    """One step of ``model`` on raw ``texts``, growing its vocabulary; returns model."""
    vocab = _growing_vocabulary(model)
    state = getattr(model, "state_", None)
    first_doc = state.n_docs_seen if state is not None else 0
    piece = Piece("<partial_fit>", np.arange(len(texts)), texts=pa.array(list(texts)))
    batch = encode_pieces([piece], vocab, state, first_doc)
    if state is None:
        model._init_state(len(vocab))
    model.n_features_in_ = len(vocab)
    train_step(model, [batch], total_samples=partial_fit_total_samples(model, batch))
    vocabulary: Vocabulary = vocab.to_vocabulary()
    model.vocabulary_ = vocabulary
    model._growing_vocabulary = (vocabulary, vocab)
    return model
