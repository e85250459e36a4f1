"""What is checked before a native reader sees a file, because that reader would crash or exhaust memory.

Polars recurses once per level of nesting and segfaults a few hundred levels deep (a JSON Lines
record from about 510 levels, a Parquet struct by 600, on the main thread's 8 MB stack; a thread
with a smaller stack crashes sooner). A segfault ends the process (the dashboard server with
it) and no handler can catch it, so the nesting is measured first, by a scan that never
recurses. A field of hundreds of megabytes is copied whole by every reader in turn (3 GB for a
200 MB field), so lines longer than a field may be are refused before any reader holds one.

The text scans stream over the bytes in chunks, vectorised, so they cost little on large files.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.common import limits
from pipelines.common.errors import IngestError

NESTING_ENV, FIELD_ENV = limits.NESTING.env, limits.FIELD_MB.env
CHUNK = 4 * 1024 * 1024
# pyarrow refuses Parquet schemas nested deeper than this itself (cleanly, while reading the footer).
PYARROW_PARQUET_DEPTH = 100


def max_nesting() -> int:
    """Levels of nesting a JSON record or Parquet column may have: real exports have a few."""
    return int(limits.NESTING.value())


def max_field_bytes() -> int:
    """The longest field (and line) a text table may hold: 32 MB unless CSAT_RADAR_MAX_FIELD_MB says."""
    return limits.FIELD_MB.bytes()


def _too_deep(file_name: str, file_format: str, depth: str) -> IngestError:
    return IngestError(
        file_name,
        f"cannot read as {file_format}: nested too deeply to read ({depth} levels; "
        f"the limit is {max_nesting()}, {NESTING_ENV})",
    )


def field_too_long(file_name: str, line: int) -> IngestError:
    limit = max_field_bytes() / 1024 / 1024
    return IngestError(file_name, f"line {line:,} holds a field longer than {limit:,g} MB (the limit, {FIELD_ENV})")


class FieldTooLong(Exception):
    """Python's csv reader met a field over the limit, in the record starting on ``line``."""

    def __init__(self, line: int) -> None:
        super().__init__(f"field too long on line {line}")
        self.line = line


def _chunks(source: bytes | memoryview | Path) -> Iterator[bytes]:
    if isinstance(source, Path):
        with source.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk
        return
    view = memoryview(source)
    for start in range(0, len(view), CHUNK):
        yield bytes(view[start : start + CHUNK])


_STEP = np.zeros(256, np.int8)
_STEP[[ord("{"), ord("[")]] = 1
_STEP[[ord("}"), ord("]")]] = -1
QUOTE, LF, CR = 34, 10, 13
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
# Every byte but quotes and brackets, dropped (in C) before numpy counts what is left.
_NOT_MARKS = bytes(b for b in range(256) if b not in b'"{}[]')


def json_depth(source: bytes | memoryview | Path) -> int:
    """How deep the brackets of JSON text nest, counting only those outside strings."""
    return json_scan(source)[0]


def json_scan(source: bytes | memoryview | Path) -> tuple[int, int]:
    """How deep the brackets of JSON text nest (outside strings), and how long its longest string is, in one pass.

    Escapes (a backslash and the byte after it) are blanked first, so every quote left opens or
    closes a string and lengths stay as stored; of the rest only quotes and brackets are kept
    for the depth, counted by numpy, and the quotes' positions give the strings' lengths.
    """
    depth, deepest, in_string, escaped_next = 0, 0, 0, False
    longest, opened, offset = 0, 0, 0  # ``opened``: where the string still open began, from the start
    for chunk in _chunks(source):
        plain = _ESCAPE.sub(b"__", b"_" + chunk[1:] if escaped_next else chunk)
        escaped_next = plain.endswith(b"\\")  # a backslash whose escaped byte opens the next chunk
        quoted = np.flatnonzero(_array(plain) == QUOTE) + offset
        bounds = np.concatenate(([opened], quoted)) if in_string else quoted
        if bounds.size > 1:
            longest = max(longest, int((bounds[1::2] - bounds[:-1:2][: bounds[1::2].size]).max()) - 1)
        opened = int(bounds[-1]) if bounds.size % 2 else opened
        offset += len(plain)
        if bounds.size % 2:  # a string still open at the chunk's end is as long as it is so far
            longest = max(longest, offset - opened - 1)
        marks = np.frombuffer(plain.translate(None, _NOT_MARKS), np.uint8)
        if not marks.size:
            continue
        quotes = marks == QUOTE
        inside = (in_string + np.cumsum(quotes, dtype=np.int64)) % 2 == 1
        levels = depth + np.cumsum(np.where(inside, 0, _STEP[marks]), dtype=np.int64)
        deepest = max(deepest, int(levels.max()))
        depth, in_string = int(levels[-1]), (in_string + int(np.count_nonzero(quotes))) % 2
    return deepest, longest


def check_json(file_name: str, file_format: str, data: bytes) -> None:
    """IngestError when JSON text nests deeper than the limit or holds a string longer than a field may be.

    Both before a reader sees it: it would crash on the nesting, and copy the string many times
    (a 200 MB string in an array took 2.8 GB to load).
    """
    depth, longest = json_scan(data)
    if depth > max_nesting():
        raise _too_deep(file_name, file_format, f"{depth:,}")
    if longest > max_field_bytes():
        limit = max_field_bytes() / 1024 / 1024
        raise IngestError(file_name, f"cannot read as {file_format}: a string longer than {limit:,g} MB "
                                     f"(the limit, {FIELD_ENV})")  # fmt: skip


def _array(chunk: bytes) -> np.ndarray:
    return np.frombuffer(chunk, np.uint8)


def first_long_line(source: bytes | memoryview | Path, limit: int) -> int | None:
    """The number of the first line longer than ``limit`` bytes, or None; reads no further than it.

    A carriage return ends a stretch too, so old Mac files are measured by their lines; lines are
    numbered by line feeds, as the readers number them.
    """
    line, run = 1, 0
    for chunk in map(_array, _chunks(source)):
        ends = np.flatnonzero((chunk == LF) | (chunk == CR))
        stretches = np.diff(ends, prepend=-1 - run) - 1 if ends.size else np.array([run + chunk.size])
        if (over := np.flatnonzero(stretches > limit)).size:
            start = ends[over[0] - 1] + 1 if over[0] else 0  # after the line end before it
            return line + int(np.count_nonzero(chunk[:start] == LF))
        line += int(np.count_nonzero(chunk == LF))
        run = chunk.size - 1 - int(ends[-1]) if ends.size else run + chunk.size
    return line if run > limit else None


def check_lines(file_name: str, source: bytes | memoryview | Path) -> None:
    """IngestError naming the first line longer than a field may be (a record's fields are on its lines)."""
    if (line := first_long_line(source, max_field_bytes())) is not None:
        raise field_too_long(file_name, line)


def _run_over(chunks: Iterable[bytes], end: int, limit: int) -> bool:
    """Whether a stretch of bytes without ``end`` is longer than ``limit``, reading no further than it."""
    run = 0
    for chunk in map(_array, chunks):
        ends = np.flatnonzero(chunk == end)
        stretches = np.diff(ends, prepend=-1 - run) - 1 if ends.size else np.array([run + chunk.size])
        run = chunk.size - 1 - int(ends[-1]) if ends.size else run + chunk.size
        if int(stretches.max()) > limit or run > limit:
            return True
    return False


def unpacked_entries(file_name: str, archive: zipfile.ZipFile) -> str | None:
    """Every entry of a workbook unpacked once, 4 MB at a time: the first that does not match its stated
    size and checksum (the Excel reader would believe it), or None.

    IngestError when a cell's text is longer than a field may be: text in the XML runs between
    tags, and the Excel reader holds such a cell many times over (a 95 MB cell took 1 GB).
    """
    limit = max_field_bytes()
    for entry in archive.infolist():
        try:
            with archive.open(entry) as handle:
                chunks = iter(lambda: handle.read(CHUNK), b"")
                if entry.filename.endswith(".xml") and _run_over(chunks, ord("<"), limit):
                    raise IngestError(file_name, f"the workbook holds a cell longer than {limit / 1024 / 1024:,g} MB "
                                                 f"(the limit, {FIELD_ENV}); refused unread")  # fmt: skip
                for _ in chunks:  # the rest, read for its checksum
                    pass
        except zipfile.BadZipFile:
            return entry.filename
    return None


def within_limit(reader, first_line: int) -> Iterator[list[str]]:
    """The reader's records; FieldTooLong, with the record's first line, where a field is over the limit."""
    # Exports hold long texts (a pasted e-mail thread), so the limit is high, but Python's reader
    # holds a field whole, and quoted fields can span lines that are each short.
    csv.field_size_limit(max_field_bytes())
    end = 0
    try:
        for record in reader:
            end = reader.line_num
            yield record
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise FieldTooLong(first_line + end + 1) from exc
        raise


def parquet_depth(schema: pa.Schema) -> int:
    """Levels of the most nested column (a plain column is 1), walked without recursion."""
    stack = [(field.type, 1) for field in schema]
    deepest = 0
    while stack:
        kind, level = stack.pop()
        deepest = max(deepest, level)
        if pa.types.is_struct(kind):
            stack.extend((kind.field(i).type, level + 1) for i in range(kind.num_fields))
        elif pa.types.is_map(kind):
            stack.extend(((kind.key_type, level + 1), (kind.item_type, level + 1)))
        elif hasattr(kind, "value_type"):  # lists of every kind (and dictionaries, one level)
            stack.append((kind.value_type, level + 1))
    return deepest


def open_parquet(file_name: str, data: bytes) -> pq.ParquetFile:
    """The file's footer, read by pyarrow (which refuses over 100 levels cleanly); IngestError when too deep."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
    except OSError as exc:
        if "too deeply nested" in str(exc):
            raise _too_deep(file_name, "parquet", f"more than {PYARROW_PARQUET_DEPTH}") from exc
        raise
    if (depth := parquet_depth(parquet.schema_arrow)) > max_nesting():
        raise _too_deep(file_name, "parquet", f"{depth:,}")
    return parquet


# Timestamps and dates are turned into text by Polars, whose calendar panics past about year
# 262,000; no export means a date outside these years.
YEARS = (1, 9999)
_SECONDS = (-62_135_596_800, 253_402_300_799)  # 0001-01-01 00:00:00 and 9999-12-31 23:59:59, from 1970
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _off_calendar(column: pa.Array) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Which values of a date or timestamp array fall outside YEARS, the values as stored, and their unit."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        scale, unit = _PER_SECOND[kind.unit], {"s": "seconds"}.get(kind.unit, kind.unit)
    elif pa.types.is_date32(kind):
        scale, unit = 1 / 86_400, "days"
    elif pa.types.is_date64(kind):
        scale, unit = 1_000, "ms"
    else:
        return None
    numbers = pl.Series(pc.cast(column, pa.int32() if pa.types.is_date32(kind) else pa.int64())).cast(pl.Int64)
    low, high = (int(bound * scale) for bound in _SECONDS)
    return ~numbers.is_between(low, high).fill_null(True).to_numpy(), numbers.fill_null(0).to_numpy(), unit


def _dated_leaves(column: pa.Array) -> Iterator[tuple[pa.Array, np.ndarray]]:
    """The date and timestamp values anywhere inside a column (in lists, structs, maps), each with its row.

    Walked with a stack, one array per level (never a row at a time): a list's values are its
    flattened items, whose rows are the list's rows taken at their parent indices.
    """
    stack = [(column, np.arange(len(column)))]
    while stack:
        array, rows = stack.pop()
        kind = array.type
        if pa.types.is_dictionary(kind):
            stack.append((array.dictionary_decode(), rows))
        elif pa.types.is_map(kind):  # a map is a list of key-value structs, which pyarrow flattens as such
            entries = pa.list_(pa.struct([kind.key_field, kind.item_field]))
            stack.append((array.cast(entries), rows))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
            parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
            stack.append((pc.list_flatten(array), rows[parents]))
        elif pa.types.is_struct(kind):
            stack.extend((pc.struct_field(array, [i]), rows) for i in range(kind.num_fields))
        elif pa.types.is_temporal(kind):
            yield array, rows


def _holds_dates(kind: pa.DataType) -> bool:
    stack = [kind]
    while stack:
        kind = stack.pop()
        if pa.types.is_date(kind) or pa.types.is_timestamp(kind):
            return True
        if pa.types.is_map(kind):
            stack.extend((kind.key_type, kind.item_type))
        elif pa.types.is_struct(kind):
            stack.extend(kind.field(i).type for i in range(kind.num_fields))
        elif hasattr(kind, "value_type"):
            stack.append(kind.value_type)
    return False


def _as_numbers(kind: pa.DataType) -> pa.DataType:
    """The type with every date or timestamp in it stored as the number it is (pyarrow casts to it)."""
    if pa.types.is_date32(kind):
        return pa.int32()
    if pa.types.is_temporal(kind):
        return pa.int64()
    if pa.types.is_dictionary(kind):
        return _as_numbers(kind.value_type)
    if pa.types.is_map(kind):
        return pa.map_(kind.key_type, _as_numbers(kind.item_type))
    if pa.types.is_struct(kind):
        return pa.struct([kind.field(i).with_type(_as_numbers(kind.field(i).type)) for i in range(kind.num_fields)])
    if pa.types.is_fixed_size_list(kind):
        return pa.list_(_as_numbers(kind.value_type), kind.list_size)
    if pa.types.is_large_list(kind):
        return pa.large_list(_as_numbers(kind.value_type))
    if pa.types.is_list(kind):
        return pa.list_(_as_numbers(kind.value_type))
    return kind


def _off_rows(name: str, column: pa.Array) -> pl.DataFrame:
    """The rows of a column holding a date outside YEARS (at any depth), with why: the first such value."""
    found = []
    for leaf, rows in _dated_leaves(column):
        if (check := _off_calendar(leaf)) is not None and (off := check[0]).any():
            found.append(pl.DataFrame({"row": rows[off], "number": check[1][off], "unit": check[2]}))
    if not found:
        return pl.DataFrame(schema={"row": pl.Int64, "reason": pl.String})
    why = pl.format("{} '{}' ({} from 1970) is outside years {}-{}", pl.lit(name), "number", "unit",
                    pl.lit(YEARS[0]), pl.lit(YEARS[1]))  # fmt: skip
    return (
        pl.concat(found)
        .group_by("row", maintain_order=True)
        .first()
        .select(pl.col("row").cast(pl.Int64), why.alias("reason"))
    )


def read_parquet(
    file_name: str, data: bytes, line: str, rename: Callable[[list[str]], list[str]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of a Parquet file as text with their row numbers (``line``), and those set aside with why.

    Source columns are renamed by ``rename`` first, so none can be ``line`` however the file names
    it. Dates outside YEARS, at any depth of a column, are found by pyarrow before Polars, which
    would panic turning them into text; their rows are set aside (each such column shown as the
    numbers the file stores), the rest load.
    """
    parquet = open_parquet(file_name, data)
    names = parquet.schema_arrow.names
    names = dict(zip(names, rename(names), strict=True))
    dated = [f.name for f in parquet.schema_arrow if _holds_dates(f.type)]
    columns = parquet.read(columns=dated).columns if dated else []
    offs = {
        names[n]: off
        for n, col in zip(dated, columns, strict=True)
        if (off := _off_rows(n, col.combine_chunks())).height
    }
    if not offs:
        frame = as_text(pl.read_parquet(data)).rename(names)
        return frame.with_row_index(line, offset=1).with_columns(pl.col(line).cast(pl.Int64)), _no_rows(line)
    table = parquet.read().rename_columns(list(names.values()))
    # A row's reason is that of its first column holding an off-calendar date.
    reasons = pl.concat(offs.values()).group_by("row", maintain_order=True).first().sort("row")
    bad = np.zeros(table.num_rows, bool)
    bad[reasons["row"].to_numpy()] = True
    frame = as_text(pl.from_arrow(table.filter(pa.array(~bad))))
    frame = frame.with_columns(pl.Series(line, np.flatnonzero(~bad) + 1, pl.Int64))
    return frame, _set_aside(table.filter(pa.array(bad)), offs, reasons, line)


def _set_aside(table: pa.Table, offs: dict[str, pl.DataFrame], reasons: pl.DataFrame, line: str) -> pl.DataFrame:
    """The rejected rows' records: a column holding an off-calendar date shown as the numbers the file stores."""
    rows = reasons["row"]
    shown = {}
    for name in offs:
        off = rows.is_in(offs[name]["row"].implode())
        column = table.column(name).combine_chunks()
        numbers = as_text(pl.from_arrow(pa.table({name: column.cast(_as_numbers(column.type))})))[name]
        dates = as_text(
            pl.from_arrow(pa.table({name: pc.if_else(off.to_arrow(), pa.scalar(None, column.type), column)}))
        )[name]
        shown[name] = pl.select(pl.when(pl.lit(off)).then(pl.lit(numbers)).otherwise(pl.lit(dates))).to_series()
    others = as_text(pl.from_arrow(table.drop_columns(list(offs))))
    frame = pl.DataFrame([others[c] if c in others.columns else shown[c].alias(c) for c in table.column_names])
    return frame.select(
        (rows + 1).alias(line),
        reasons["reason"],
        pl.struct(table.column_names).struct.json_encode().alias("raw_record"),
    )


def _no_rows(line: str) -> pl.DataFrame:
    return pl.DataFrame(schema={line: pl.Int64, "reason": pl.String, "raw_record": pl.String})


def as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text: nested values as JSON (structs) or comma-joined (lists)."""
    exprs = []
    for name, dtype in frame.schema.items():
        if dtype == pl.String:
            exprs.append(pl.col(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(pl.col(name).struct.json_encode())
        elif isinstance(dtype, pl.Map):  # its entries, each as JSON, as a list of structs is shown
            entries = pl.List(pl.Struct({"key": dtype.key, "value": dtype.value}))
            exprs.append(pl.col(name).cast(entries).list.eval(pl.element().struct.json_encode()).list.join(","))
        elif isinstance(dtype, (pl.List, pl.Array)) and isinstance(dtype.inner, pl.Struct):
            exprs.append(pl.col(name).list.eval(pl.element().struct.json_encode()).list.join(","))
        elif isinstance(dtype, (pl.List, pl.Array)):
            exprs.append(pl.col(name).cast(pl.List(pl.String)).list.join(","))
        else:
            exprs.append(pl.col(name).cast(pl.String))
    return frame.select(exprs)
