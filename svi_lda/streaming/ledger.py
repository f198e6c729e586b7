"""What a stream has consumed, saved in the same atomic checkpoint as the model.

The ledger lists the files taken completely (in the order taken) and, for the file being
read, how many of its records are consumed: documents of the file form the row range
``[0, records_done)``. It also counts the documents used (the next document's id) and
keeps a checksum of the documents used: the sum (mod 2**64) of a 64-bit hash of each
document's (file, record). Any document missed or used twice changes it, and being a sum
it does not depend on how the documents were grouped into steps, so a test, or an
operator, can check that each document went into exactly one step.

It is stored under ``extra["stream"]`` of the model folder's ``model.json``, which
:func:`svi_lda.persistence.save_model` renames into place last: model state and ledger
change together or not at all. Its size is O(files), a short entry per file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from svi_lda.numerics.hashing import splitmix64

LEDGER_VERSION = 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def document_checksum(name: str, records: np.ndarray) -> int:
    """Sum (mod 2**64) of the hashes of documents ``records`` of file ``name``."""
    file_key = np.uint64(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little"))
    with np.errstate(over="ignore"):
        keys = splitmix64(np.asarray(records).astype(np.uint64) * _GOLDEN + file_key)
    return int(np.sum(keys, dtype=np.uint64))


@dataclass
class Ledger:
    """Consumed input of a stream (see the module docstring)."""

    done: list[str] = field(default_factory=list)
    current: str | None = None
    records_done: int = 0
    n_docs: int = 0
    checksum: int = 0
    _done_set: set[str] = field(default_factory=set, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._done_set = set(self.done)

    def is_done(self, name: str) -> bool:
        """Whether file ``name`` has been taken completely."""
        return name in self._done_set

    def finish_file(self, name: str) -> None:
        """Mark ``name`` as taken completely."""
        if name not in self._done_set:
            self.done.append(name)
            self._done_set.add(name)
        if self.current == name:
            self.current, self.records_done = None, 0

    def advance(self, name: str, records: np.ndarray) -> None:
        """Record that the documents at ``records`` of file ``name`` were used (in order)."""
        if self.current != name:
            self.current, self.records_done = name, 0
        self.records_done = int(records[-1]) + 1
        self.n_docs += len(records)
        self.checksum = (self.checksum + document_checksum(name, records)) % 2**64

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form (stored in the checkpoint)."""
        return {
            "version": LEDGER_VERSION,
            "done": list(self.done),
            "current": self.current,
            "records_done": self.records_done,
            "n_docs": self.n_docs,
            "checksum": self.checksum,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Ledger:
        """Inverse of :meth:`to_json` (an empty ledger for None)."""
        if not data:
            return cls()
        if data.get("version") != LEDGER_VERSION:
            raise ValueError(
                f"stream ledger version {data.get('version')!r} is not supported "
                f"(this svi-lda reads version {LEDGER_VERSION})"
            )
        return cls(
            done=list(data["done"]),
            current=data["current"],
            records_done=int(data["records_done"]),
            n_docs=int(data["n_docs"]),
            checksum=int(data["checksum"]),
        )

    def copy(self) -> Ledger:
        """An independent copy."""
        return Ledger.from_json(self.to_json())


def expected_checksum(files: Iterable[tuple[str, np.ndarray]]) -> int:
    """The checksum of using documents ``records`` of each file exactly once."""
    return sum(document_checksum(name, records) for name, records in files) % 2**64
