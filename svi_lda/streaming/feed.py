"""The stream's ordered document sequence, and minibatches cut from it.

The sequence is: published files in name order, each file's documents in file order
(:mod:`svi_lda.streaming.source`, :mod:`svi_lda.streaming.readers`). Minibatches are cut
from that sequence, ``batch_size`` documents each, whatever one listing of the folder
happened to find: when fewer are available the feed waits for more (or, at the end of a
``--once`` run, gives the rest as a smaller final minibatch). So the model depends on the
files and their names, not on when they arrived.

Memory: at most one file is open, and documents are read a block at a time only while
fewer than a minibatch are buffered.
"""

from __future__ import annotations

import bisect
import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from svi_lda.streaming.ledger import Ledger
from svi_lda.streaming.readers import DEFAULT_BLOCK_BYTES, FileEnd, Piece, read_file
from svi_lda.streaming.source import FolderSource

logger = logging.getLogger(__name__)


@dataclass
class Minibatch:
    """Documents taken from the sequence, and the files they finished, in order."""

    events: list[Piece | FileEnd] = field(default_factory=list)

    @property
    def pieces(self) -> list[Piece]:
        """The documents, in sequence order."""
        return [e for e in self.events if isinstance(e, Piece)]

    @property
    def n_docs(self) -> int:
        """Documents in the minibatch."""
        return sum(len(p) for p in self.pieces)

    def record_in(self, ledger: Ledger) -> None:
        """Advance ``ledger`` past this minibatch (after its step is applied)."""
        for event in self.events:
            if isinstance(event, Piece):
                ledger.advance(event.file, event.records)
            else:
                ledger.finish_file(event.file)


class DocumentFeed:
    """Files of a source, read in order, buffered, cut into minibatches.

    Parameters
    ----------
    source : FolderSource
    ledger : Ledger
        What is already consumed: finished files are skipped, the current file resumes
        after its ``records_done`` records.
    on_file_end : callable(FileEnd)
        Called when a file has been read to its end (with its rejects), possibly more than
        once for the same file across restarts: it must be idempotent.
    text_field, block_bytes
        As for :func:`~svi_lda.streaming.readers.read_file`.
    """

    def __init__(
        self,
        source: FolderSource,
        ledger: Ledger,
        *,
        on_file_end: Callable[[FileEnd], None],
        text_field: str = "text",
        block_bytes: int = DEFAULT_BLOCK_BYTES,
    ) -> None:
        self.source = source
        self.on_file_end = on_file_end
        self.text_field = text_field
        self.block_bytes = block_bytes
        self.known: set[str] = set(ledger.done)
        self.queue: list[str] = []
        self.resume_file = ledger.current
        self.resume_records = ledger.records_done
        self.high_water = max([*ledger.done, ledger.current or ""])
        self.buffer: deque[Piece | FileEnd] = deque()
        self.buffered_docs = 0
        self.n_files_read = 0
        self._reader: Iterator[Piece | FileEnd] | None = None
        self._reader_skip = 0
        self._first_poll = True

    @property
    def drained(self) -> bool:
        """No file open and none waiting (documents may still be buffered)."""
        return self._reader is None and not self.queue

    def poll(self) -> int:
        """List the folder; queue the new published files in name order. Returns how many."""
        names = [f.name for f in self.source.list_published()]
        new = [n for n in names if n not in self.known]
        for name in new:
            self.known.add(name)
            if name == self.resume_file:
                self.queue.insert(0, name)  # the file a checkpoint stopped in goes first
                continue
            if name < self.high_water:
                logger.warning(
                    "%s appeared after %s was taken although its name sorts before it: "
                    "taking it now (give files increasing names)", name, self.high_water,
                )
            bisect.insort(self.queue, name, lo=1 if self.queue[:1] == [self.resume_file] else 0)
        if self._first_poll and self.resume_file and self.resume_file not in names:
            logger.warning(
                "%s, which the checkpoint was reading (%d records taken), is no longer in "
                "the source folder: its remaining records are skipped",
                self.resume_file, self.resume_records,
            )
        self._first_poll = False
        return len(new)

    def _fill(self, n_docs: int) -> None:
        """Read until ``n_docs`` documents are buffered or nothing is left to read."""
        while self.buffered_docs < n_docs:
            if self._reader is None:
                if not self.queue:
                    return
                name = self.queue.pop(0)
                self.high_water = max(self.high_water, name)
                self._reader = read_file(
                    self.source, name, text_field=self.text_field, block_bytes=self.block_bytes
                )
                self._reader_skip = self.resume_records if name == self.resume_file else 0
            item = next(self._reader)
            if isinstance(item, FileEnd):
                self._reader = None
                self.n_files_read += 1
                self.on_file_end(item)
                self.buffer.append(item)
                continue
            if self._reader_skip:
                keep = int((item.records >= self._reader_skip).sum())
                item = item.slice(len(item) - keep, len(item))
                if not len(item):
                    continue
            self.buffer.append(item)
            self.buffered_docs += len(item)

    def take(self, n_docs: int, *, final: bool = False) -> Minibatch | None:
        """The next ``n_docs`` documents of the sequence, or None if not yet available.

        With ``final``, whatever is left (fewer documents, or only finished files) is
        taken, and None means nothing at all is left.
        """
        self._fill(n_docs)
        if self.buffered_docs < n_docs and not (final and self.buffer):
            return None
        batch = Minibatch()
        need = n_docs
        while self.buffer and (need > 0 or isinstance(self.buffer[0], FileEnd)):
            head = self.buffer[0]
            if isinstance(head, FileEnd) or len(head) <= need:
                self.buffer.popleft()
                if isinstance(head, Piece):
                    need -= len(head)
                    self.buffered_docs -= len(head)
                batch.events.append(head)
            else:
                batch.events.append(head.slice(0, need))
                self.buffer[0] = head.slice(need, len(head))
                self.buffered_docs -= need
                need = 0
        return batch

    def take_finished_files(self) -> Minibatch:
        """Files read to their end with no document left buffered before their end (their
        last documents already used, or none accepted): recorded without a step."""
        batch = Minibatch()
        while self.buffer and isinstance(self.buffer[0], FileEnd):
            batch.events.append(self.buffer.popleft())
        return batch
