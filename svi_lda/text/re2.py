"""Token patterns run with RE2 (through ``pyarrow.compute``): linear time in the text.

A token pattern can come from an untrusted model file, so it must not be able to make
tokenizing take exponential time, as a backtracking engine (Python's ``re``) can with a
pattern such as ``(a+)+$``. RE2 guarantees time linear in the text; it has no
backreferences and no lookaround, which a token pattern does not need.

Patterns are written as for scikit-learn (Python syntax); :func:`to_re2` maps the parts
whose meaning differs:

- a leading ``(?u)`` flag is dropped (Unicode is the default for Python str patterns);
- ``\\w``, ``\\d``, ``\\s`` become their Unicode classes, as in Python (RE2's own are
  ASCII only); so do ``\\W``, ``\\D``, ``\\S`` outside character classes (inside one
  they keep RE2's ASCII meaning);
- ``\\b`` stays RE2's ASCII word boundary: patterns of the form ``\\b\\w\\w+\\b`` never
  reach RE2 (the tokenizer cuts word runs itself, exactly as Python does), but a
  custom pattern using ``\\b`` next to non-ASCII letters differs from Python's.

:func:`find_all` is ``re.findall`` over a whole Arrow array at once: one RE2 pass wraps
every match in a marker that occurs nowhere in the text, and a split on the marker
leaves the matches at the odd positions of each document's list.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_UNICODE = {"w": r"\p{L}\p{N}_", "d": r"\p{Nd}", "s": r"\s\v\p{Z}\x{85}\x{1c}-\x{1f}"}
_LEADING_FLAGS = re.compile(r"^\(\?([aiLmsux]+)\)")


def to_re2(pattern: str) -> tuple[str, int]:
    """(RE2 pattern, number of capturing groups) for a Python-syntax token pattern."""
    m = _LEADING_FLAGS.match(pattern)
    if m:
        flags = m.group(1).replace("u", "")
        pattern = (f"(?{flags})" if flags else "") + pattern[m.end() :]
    out: list[str] = []
    groups = 0
    in_class = False
    class_open = -1  # index in pattern of the current class's first member
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            n = pattern[i + 1]
            if n in _UNICODE:
                out.append(_UNICODE[n] if in_class else f"[{_UNICODE[n]}]")
            elif n.lower() in _UNICODE and not in_class:
                out.append(f"[^{_UNICODE[n.lower()]}]")
            else:
                out.append(c + n)
            i += 2
            continue
        if in_class:
            if c == "]" and i != class_open:
                in_class = False
        elif c == "[":
            in_class = True
            class_open = i + 1
            if pattern.startswith("^", i + 1):
                class_open += 1
        elif c == "(":
            rest = pattern[i + 1 : i + 4]
            if not rest.startswith("?") or rest.startswith(("?P<", "?<")) and rest[2:3] not in (
                "=", "!"
            ):
                groups += 1
        out.append(c)
        i += 1
    return "".join(out), groups


def check(pattern: str) -> tuple[str, int]:
    """:func:`to_re2` plus a compile by RE2; ValueError naming what RE2 rejects."""
    translated, groups = to_re2(pattern)
    if groups > 1:
        raise ValueError(
            f"token_pattern {pattern!r} has {groups} capturing groups; a token pattern may "
            "have at most one (its match is the token), as in scikit-learn"
        )
    try:
        pc.count_substring_regex(pa.array([""], pa.large_string()), pattern=translated)
    except pa.ArrowException as exc:  # the pattern is the only input: it is what fails
        raise ValueError(
            f"token_pattern {pattern!r} is not a valid regex for RE2, the linear-time engine "
            f"tokens are matched with (no backreferences or lookaround): {exc}"
        ) from None
    return translated, groups


def _absent_marker(texts: pa.Array) -> str:
    """A string found in none of ``texts`` whose first character occurs in it only once,
    so it cannot be found straddling a text and an inserted copy of itself."""
    n = 1
    while True:
        marker = "\ufdd0" + "\ufdd1" * n
        if not pc.any(pc.match_substring(texts, marker)).as_py():
            return marker
        n *= 2


def find_all(texts: pa.Array, translated: str, groups: int) -> tuple[pa.Array, np.ndarray]:
    """All non-overlapping matches in each text, left to right (``re.findall``).

    ``texts`` is a large_string array without nulls. Returns the flat matches (the group
    when the pattern has one, else the whole match) and per-document offsets into them.
    """
    n = len(texts)
    if n == 0:
        return pa.array([], pa.large_string()), np.zeros(1, dtype=np.int64)
    marker = _absent_marker(texts)
    rewrite = marker + ("\\1" if groups else "\\0") + marker
    marked = pc.replace_substring_regex(texts, pattern=translated, replacement=rewrite)
    pieces = pc.split_pattern(marked, pattern=marker)
    offsets = pieces.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    counts = np.diff(offsets)  # 2 * matches + 1 per document
    owner = np.repeat(np.arange(n), counts)
    position = np.arange(int(offsets[-1])) - offsets[:-1][owner]
    values = pieces.flatten()
    matches = values.filter(pa.array(position % 2 == 1))
    doc_offsets = np.concatenate([[0], np.cumsum((counts - 1) // 2)]).astype(np.int64)
    return matches, doc_offsets
