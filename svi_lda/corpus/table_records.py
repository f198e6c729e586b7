"""Records of the table formats (CSV, Parquet) via Arrow: column checks, rejects."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from svi_lda.corpus.files import STREAM_ERRORS, InputError, one_line, open_stream, parquet_input
from svi_lda.corpus.partitions import Block, Partition, SourceOptions, lost_block
from svi_lda.text import _kernels


def _binary_block_checked(col: pa.Array, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Invalid-UTF-8 positions (-1 = ok) and null mask of a binary/string column."""
    if col.null_count:
        nulls = col.is_null().to_numpy(zero_copy_only=False)
    else:
        nulls = np.zeros(len(col), dtype=bool)
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return np.full(len(col), -1, dtype=np.int64), nulls
    col = col.cast(pa.large_binary())
    _, off_buf, data_buf = col.buffers()[:3]
    offsets = np.frombuffer(off_buf, dtype=np.int64)[col.offset : col.offset + len(col) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf else np.zeros(0, np.uint8)
    return _kernels.utf8_invalid_at(data, offsets[:-1], offsets[1:]), nulls


def _table_block(file, table: pa.Table, rows: np.ndarray, options, null_reason) -> Block:
    """Shared CSV/Parquet logic: validate text and kept columns, build the block."""
    n = table.num_rows
    ok = np.ones(n, dtype=bool)
    rejects: list[tuple[int, int, str]] = []
    for name in (options.text_field, *options.keep_fields):
        col = table.column(name).combine_chunks()
        if not (
            pa.types.is_binary(col.type)
            or pa.types.is_large_binary(col.type)
            or pa.types.is_string(col.type)
            or pa.types.is_large_string(col.type)
        ):
            continue  # typed Parquet metadata columns are kept as they are
        bad_at, nulls = _binary_block_checked(col, name)
        if name == options.text_field:
            for r in np.flatnonzero(ok & nulls):
                rejects.append((int(r), int(rows[r]), null_reason(name)))
                ok[r] = False
        for r in np.flatnonzero(ok & (bad_at >= 0) & ~nulls):
            rejects.append(
                (
                    int(r),
                    int(rows[r]),
                    f"undecodable bytes (invalid UTF-8) in field {name!r} at byte {int(bad_at[r])}",
                )
            )
            ok[r] = False
    keep = pa.array(np.flatnonzero(ok))
    kept = table.take(keep)

    def as_text(col: pa.ChunkedArray) -> pa.Array:
        col = col.combine_chunks()
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            col = col.cast(pa.large_binary()).view(pa.large_string())
        return col.cast(pa.large_string()) if pa.types.is_string(col.type) else col

    rejects.sort()
    return Block(
        file=file,
        texts=as_text(kept.column(options.text_field)),
        record=np.flatnonzero(ok).astype(np.int64),
        pos=rows[ok],
        extra={k: as_text(kept.column(k)) for k in options.keep_fields},
        rejects=rejects,
        n_records=n,
    )


def csv_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    progress = [2]
    try:
        yield from _csv_blocks_of(part, options, progress)
    except STREAM_ERRORS as exc:
        where = f"{part.paths[0]}: cannot be read from row {progress[0]} on ({one_line(exc)})"
        if part.compression is None:
            raise InputError(where) from None
        yield lost_block(
            part.paths[0],
            f"{where}: the compressed file is truncated or corrupt; the rows before were "
            "kept, the rest of the file is lost",
            options.keep_fields,
        )


def _csv_blocks_of(part: Partition, options: SourceOptions, progress: list[int]):
    file = part.paths[0]
    names = (options.text_field, *options.keep_fields)
    invalid: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append(
            (
                int(row.number) if row.number is not None else -1,
                f"malformed row: expected {row.expected_columns} columns, "
                f"found {row.actual_columns}",
            )
        )
        return "skip"

    with open_stream(file, part.compression) as f:
        reader = pcsv.open_csv(
            f,
            read_options=pcsv.ReadOptions(
                block_size=min(options.block_bytes, 1 << 30), use_threads=False
            ),
            parse_options=pcsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.large_binary() for n in names}, include_columns=list(names)
            ),
        )
        next_row = 2  # spreadsheet row of the next record (the header is row 1)
        n_rec = 0
        for rb in reader:
            table = pa.Table.from_batches([rb])
            bad = sorted(r for r, _ in invalid if r >= next_row)
            rows = np.arange(next_row, next_row + table.num_rows, dtype=np.int64)
            for r in bad:
                rows[rows >= r] += 1
            stop = int(rows[-1]) + 1 if len(rows) else next_row
            mine = [(r, why) for r, why in invalid if next_row <= r < stop]
            invalid[:] = [(r, why) for r, why in invalid if r >= stop]
            block = _table_block(file, table, rows, options, lambda n: f"field {n!r} is empty/null")
            block.record = rows[block.record] - next_row
            block.rejects = sorted(
                [(int(rows[i]) - next_row, p, why) for i, p, why in block.rejects]
                + [(r - next_row, r, why) for r, why in mine]
            )
            block.n_records = stop - next_row
            n_rec += block.n_records
            next_row = stop
            progress[0] = next_row
            yield block
        if invalid:  # malformed rows after the last good one
            rows_left = sorted(invalid)
            yield Block(
                file,
                pa.array([], pa.large_string()),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                {k: pa.array([], pa.large_string()) for k in options.keep_fields},
                [(r - next_row, r, why) for r, why in rows_left],
                rows_left[-1][0] + 1 - next_row,
            )


def parquet_blocks(part: Partition, options: SourceOptions) -> Iterator[Block]:
    file = part.paths[0]
    names = [options.text_field, *options.keep_fields]
    row = 0
    rows_per_batch = max(1024, min(1 << 20, options.block_bytes // 2048))
    try:
        with parquet_input(file) as source:
            pf = pq.ParquetFile(source)
            batches = pf.iter_batches(batch_size=rows_per_batch, columns=names, use_threads=False)
            for rb in batches:
                table = pa.Table.from_batches([rb])
                rows = np.arange(row, row + table.num_rows, dtype=np.int64)
                yield _table_block(file, table, rows, options, lambda n: f"field {n!r} is null")
                row += table.num_rows
    except (OSError, RuntimeError, pa.ArrowException) as exc:
        raise InputError(
            f"{file}: not a readable Parquet file from row {row} on ({one_line(exc)})"
        ) from None
