"""Records of the line formats (TSV, JSON Lines): line chunks, fields, rejects."""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from svi_lda.corpus.files import StreamBroken, one_line, open_stream, read_upto
from svi_lda.corpus.partitions import Block, Partition, SourceOptions, lost_block
from svi_lda.text import _kernels


def count_lines(part: Partition) -> int:
    """Physical lines in a line-format partition (pass 1 gives these to pass 2)."""
    n = 0
    for buf, _ in _line_chunks(part, 8 << 20):
        n += _n_lines(buf)
    return n


def _n_lines(buf: np.ndarray) -> int:
    if not len(buf):
        return 0
    return int(np.count_nonzero(buf == 10)) + (buf[-1] != 10)


def _line_chunks(part: Partition, block_bytes: int) -> Iterator[tuple[np.ndarray, int]]:
    """Chunks of whole lines as uint8 arrays, with the number of lines before each."""
    path = part.paths[0]
    remaining = None if part.stop is None else part.stop - part.start
    lines_before = 0
    carry = b""
    with open_stream(path, part.compression) as f:
        if part.start:
            f.seek(part.start)
        while True:
            want = block_bytes if remaining is None else min(block_bytes, remaining)
            data, broken = read_upto(f, want, path, part.compression is not None)
            if broken is not None:
                # Keep the whole lines read before the break; the cut last line is lost.
                data = carry + data
                cut = data.rfind(b"\n") + 1
                if cut:
                    buf = np.frombuffer(data, dtype=np.uint8, count=cut)
                    yield buf, lines_before
                    lines_before += _n_lines(buf)
                raise StreamBroken(
                    f"{path}: the compressed file is truncated or corrupt after line "
                    f"{lines_before} ({one_line(broken)}); lines 1-{lines_before} were "
                    "kept; the rest of the file is lost (with at most the last 4 KiB "
                    "read before the cut, which the decompressor could not hand over)"
                )
            if remaining is not None:
                remaining -= len(data)
            if not data:
                if carry:
                    buf = np.frombuffer(carry, dtype=np.uint8)
                    yield buf, lines_before
                return
            data = carry + data
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            buf = np.frombuffer(data, dtype=np.uint8, count=cut)
            yield buf, lines_before
            lines_before += _n_lines(buf)
            carry = data[cut:]


def _split_lines(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (excluding ``\\r\\n``) of every line in ``buf``."""
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl + 1])
    stops = np.concatenate([nl, [len(buf)]])
    if starts[-1] == len(buf):  # buffer ends with a newline: no extra line
        starts, stops = starts[:-1], stops[:-1]
    cr = (stops > starts) & (buf[np.maximum(stops - 1, 0)] == 13)
    return starts.astype(np.int64), (stops - cr).astype(np.int64)


def _strings(buf: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> pa.LargeStringArray:
    data, offsets = _kernels.gather_spans(buf, starts, stops)
    return pa.LargeStringArray.from_buffers(len(starts), pa.py_buffer(offsets), pa.py_buffer(data))


def line_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    try:
        yield from _line_blocks_of(part, options)
    except StreamBroken as exc:
        yield lost_block(part.paths[0], exc.message, options.keep_fields)


def _line_blocks_of(part: Partition, options: SourceOptions) -> Iterator[Block]:
    file = part.paths[0]
    for buf, lines_before in _line_chunks(part, options.block_bytes):
        starts, stops = _split_lines(buf)
        lines = lines_before + np.arange(len(starts), dtype=np.int64)
        if part.at_file_start and part.fmt == "tsv" and lines_before == 0:
            starts, stops, lines = starts[1:], stops[1:], lines[1:]  # header
        if part.fmt == "tsv":
            block = _tsv_block(file, buf, starts, stops, lines, part.header, options)
        else:
            block = _jsonl_block(file, buf, starts, stops, lines, options)
        block.n_lines = _n_lines(buf)
        yield block


def _tsv_block(file, buf, starts, stops, lines, header, options) -> Block:
    names = (options.text_field, *options.keep_fields)
    want = np.array([header.index(n) for n in names], dtype=np.int64)
    fs, fe, n_found = _kernels.field_spans(buf, starts, stops, len(header), want)
    rejects: list[tuple[int, int, str]] = []
    ok = n_found == len(header)
    for r in np.flatnonzero(~ok):
        rejects.append(
            (
                int(r),
                int(lines[r]),
                f"malformed row: expected {len(header)} tab-separated fields, "
                f"found {int(n_found[r])}",
            )
        )
    for j, name in enumerate(names):
        bad_at = _kernels.utf8_invalid_at(buf, fs[:, j], fe[:, j])
        for r in np.flatnonzero(ok & (bad_at >= 0)):
            rejects.append(
                (
                    int(r),
                    int(lines[r]),
                    f"undecodable bytes (invalid UTF-8) in field {name!r} at byte {int(bad_at[r])}",
                )
            )
            ok[r] = False
    keep = np.flatnonzero(ok)
    rejects.sort()
    return Block(
        file=file,
        texts=_strings(buf, fs[keep, 0], fe[keep, 0]),
        record=keep.astype(np.int64),
        pos=lines[keep],
        extra={
            n: _strings(buf, fs[keep, j + 1], fe[keep, j + 1])
            for j, n in enumerate(options.keep_fields)
        },
        rejects=rejects,
        n_records=len(starts),
    )


def _jsonl_block(file, buf, starts, stops, lines, options) -> Block:
    raw = buf.tobytes()
    texts: list[str] = []
    record: list[int] = []
    pos: list[int] = []
    extra: dict[str, list] = {k: [] for k in options.keep_fields}
    rejects: list[tuple[int, int, str]] = []
    tf = options.text_field
    n = 0
    for s, e, line in zip(starts.tolist(), stops.tolist(), lines.tolist(), strict=True):
        chunk = raw[s:e]
        if not chunk.strip():
            continue  # blank lines are not records
        r = n
        n += 1
        try:
            obj = json.loads(chunk)
        except UnicodeDecodeError as exc:
            rejects.append((r, line, f"undecodable bytes (invalid UTF-8) at byte {exc.start}"))
            continue
        except ValueError as exc:
            rejects.append((r, line, f"invalid JSON: {exc}"))
            continue
        if not isinstance(obj, dict):
            rejects.append((r, line, f"not a JSON object (found {type(obj).__name__})"))
            continue
        if tf not in obj:
            rejects.append((r, line, f"missing field {tf!r}"))
            continue
        text = obj[tf]
        if not isinstance(text, str):
            what = "null" if text is None else type(text).__name__
            rejects.append((r, line, f"field {tf!r} is not a string (found {what})"))
            continue
        texts.append(text)
        record.append(r)
        pos.append(line)
        for k in options.keep_fields:
            v = obj.get(k)
            extra[k].append(v if isinstance(v, str) or v is None else json.dumps(v))
    return Block(
        file=file,
        texts=pa.array(texts, pa.large_string()),
        record=np.array(record, dtype=np.int64),
        pos=np.array(pos, dtype=np.int64),
        extra={k: pa.array(v, pa.large_string()) for k, v in extra.items()},
        rejects=rejects,
        n_records=n,
    )
