"""Streaming: one long-lived model that learns from files as they land in a folder.

:func:`stream` / :class:`Streamer` run the loop (:mod:`~svi_lda.streaming.streamer`);
the publishing convention and file order are in :mod:`~svi_lda.streaming.source`, step
scaling and the drift mode in :mod:`~svi_lda.streaming.scaling`, vocabulary growth and its
cap in :mod:`~svi_lda.streaming.vocabulary`, the exactly-once ledger in
:mod:`~svi_lda.streaming.ledger`.
"""

from svi_lda.streaming.ledger import Ledger
from svi_lda.streaming.scaling import StreamScaling
from svi_lda.streaming.streamer import (
    Streamer,
    StreamError,
    StreamProgress,
    StreamSettings,
    stream,
)

__all__ = [
    "Ledger",
    "StreamError",
    "StreamProgress",
    "StreamScaling",
    "StreamSettings",
    "Streamer",
    "stream",
]
