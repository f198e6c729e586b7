"""Argument parsing shared by the commands: errors on one line, no usage dump."""

from __future__ import annotations

import argparse
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
