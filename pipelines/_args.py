"""Argument parsing shared by the commands: errors on one line, no usage dump."""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit code 2).

    argparse's default prints the whole usage block first; one line naming the argument
    is easier to read in logs and in a job scheduler's output.
    """

    def error(self, message: str) -> NoReturn:
        first = " ".join(message.split())
        sys.stderr.write(f"{self.prog}: error: {first} (see {self.prog} --help)\n")
        sys.exit(2)


def int_at_least(low: int):
    """An argparse type: an int >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}; got {value}")
        return value

    parse.__name__ = f"int >= {low}"
    return parse


def float_in(low: float, high: float = float("inf"), *, open_low: bool = True):
    """An argparse type: a finite float in ``(low, high]`` (``[low, high]`` if not
    open_low)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
        above = value > low if open_low else value >= low
        if not (above and value <= high and math.isfinite(value)):
            close = ")" if math.isinf(high) else "]"
            bound = f"{'(' if open_low else '['}{low:g}, {high:g}{close}"
            raise argparse.ArgumentTypeError(f"must lie in {bound}; got {text}")
        return value

    parse.__name__ = "number"
    return parse


POSITIVE = int_at_least(1)
NON_NEGATIVE = int_at_least(0)


def location(text: str):
    """A folder argument: a local path (a Path) or an fsspec URL such as ``s3://b/x``
    (kept as its string); see :mod:`svi_lda.storage`. Imported lazily: svi_lda's import
    is heavier than parsing the arguments."""
    from svi_lda.storage import location as to_location

    return to_location(text)


def _output(folder: bool, make_parent: bool = False):
    def parse(text: str):
        from svi_lda.storage import StorageError, check_output
        from svi_lda.storage import location as to_location

        loc = to_location(text)
        try:
            check_output(loc, folder=folder, make_parent=make_parent)
        except StorageError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return loc

    parse.__name__ = "folder" if folder else "file"
    return parse


# Output arguments: a location as :func:`location` gives, checked when the arguments are
# parsed (protocol installed, bucket present, local parent folder present), so a bad one
# fails in one line before any work rather than with a traceback after all of it.
output_file = _output(folder=False)
output_file_in_new_folder = _output(folder=False, make_parent=True)  # writer makes parents
output_folder = _output(folder=True)
