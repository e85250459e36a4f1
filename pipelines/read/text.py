"""Delimited text tables (CSV, TSV, any of ``DELIMITERS``) read into raw frames, whole or record by record.

Grain: one row per record; records not as wide as the header are set aside as malformed
(MALFORMED_SCHEMA), one row each, by the line where they start.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import polars as pl

from pipelines.read import guards
from pipelines.read.raw import LINE, MALFORMED_SCHEMA, dedupe_headers, repeated_names
from pipelines.read.sniff import sniff_layout


def read_csv_text(text: str) -> tuple[pl.DataFrame, pl.DataFrame, str, int, tuple[str, ...]]:
    """(frame, malformed records, delimiter, header line, repeated header names) of a whole text table."""
    delimiter, preamble = sniff_layout(text)
    lines_iter = io.StringIO(text)
    for _ in range(preamble):
        lines_iter.readline()
    header_row = next(csv.reader([lines_iter.readline()], delimiter=delimiter))
    headers = dedupe_headers(header_row)
    body = lines_iter.read()
    header_line = preamble + 1
    no_malformed = pl.DataFrame(schema=MALFORMED_SCHEMA)
    if not body.strip():
        return (
            pl.DataFrame(schema={**dict.fromkeys(headers, pl.String), LINE: pl.Int64}),
            no_malformed,
            delimiter,
            header_line,
            repeated_names(header_row),
        )
    # Polars pads a short record with nulls, and a line break in an unquoted field makes two short
    # records that would load as two wrong rows: records not as wide as the header are set aside.
    records = Records(lambda: io.StringIO(body, newline="\n"), delimiter, header_line, len(headers))
    if any(reason for _, _, reason in records):
        frame, malformed = _read_ragged_csv(body, headers, delimiter, header_line)
        return frame, malformed, delimiter, header_line, repeated_names(header_row)
    try:
        frame = pl.read_csv(
            body.encode("utf-8"),
            has_header=False,
            new_columns=headers,
            separator=delimiter,
            infer_schema=False,
            empty_string_is_null=False,
            missing_columns="insert",
        )
    except pl.exceptions.ComputeError:  # a quote Python's reader closes leniently, Polars does not
        frame, malformed = _read_ragged_csv(body, headers, delimiter, header_line)
        return frame, malformed, delimiter, header_line, repeated_names(header_row)
    # A record starts one line after the previous record, plus the line breaks quoted inside it.
    breaks = pl.sum_horizontal(pl.col(h).str.count_matches("\n").fill_null(0) for h in headers)
    frame = frame.with_columns((header_line + 1 + (breaks + 1).cum_sum() - (breaks + 1)).cast(pl.Int64).alias(LINE))
    return frame, no_malformed, delimiter, header_line, repeated_names(header_row)


# Polars ends records only at line feeds; Python's csv module also at a bare carriage return,
# which exports hold inside text. Hidden while Python reads, restored afterwards.
HIDDEN_RETURN = "\ue000"


def _read_ragged_csv(
    body: str, headers: list[str], delimiter: str, header_line: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Slow path for files with records not as wide as the header: those records are set aside."""
    records = Records(lambda: io.StringIO(body, newline="\n"), delimiter, header_line, len(headers))
    good, lines, bad = next(record_chunks(iter(records), size=None))
    return records_frame(good, lines, headers), pl.DataFrame(bad, schema=MALFORMED_SCHEMA, orient="row")


def records_frame(records: list[list[str]], lines: list[int], headers: list[str]) -> pl.DataFrame:
    """Records as wide as the header, read by Python's csv reader, as a frame with their lines."""
    frame = pl.DataFrame(records, schema=dict.fromkeys(headers, pl.String), orient="row").with_columns(
        pl.Series(LINE, lines, dtype=pl.Int64)
    )
    return frame.with_columns(pl.col(h).replace("", None).str.replace_all(HIDDEN_RETURN, "\r") for h in headers)


CUT_REASON = "record cut inside a quoted field"


class Records:
    """The records of delimited text, ending at line feeds only (as Polars ends them), measured against the header.

    Iterating gives each record but blank lines with its first line and why it is set aside
    (None when as wide as the header). ``open_lines`` gives the text's lines afresh each call:
    the last record is held back and read again to see whether it ends inside its quotes.
    Once read through, ``count`` is how many records there were (blank lines too, as Polars
    counts them) and ``cut`` whether the last one was cut short.
    """

    def __init__(self, open_lines: Callable[[], Iterator[str]], delimiter: str, first_line: int, width: int) -> None:
        self._open_lines = open_lines
        self._delimiter = delimiter
        self._first_line = first_line
        self._width = width
        self.count = 0
        self.cut = False

    def __iter__(self) -> Iterator[tuple[int, list[str], str | None]]:
        reader = csv.reader(_lines_with_hidden_returns(self._open_lines()), delimiter=self._delimiter)
        width, previous_end, last_offset, held = self._width, 0, 0, None
        records = guards.within_limit(reader, self._first_line)
        for self.count, record in enumerate(records, start=1):
            last_offset = previous_end + 1
            previous_end = reader.line_num
            if record:
                if held:
                    yield held
                held = (
                    self._first_line + last_offset,
                    record,
                    None if len(record) == width else _width_reason(len(record), width),
                )
        self.cut = bool(last_offset) and self._ends_inside_quotes(last_offset)
        if held:
            line, record, reason = held
            cut = self.cut and reason is None and line == self._first_line + last_offset
            yield line, record, CUT_REASON if cut else reason

    def _ends_inside_quotes(self, last_offset: int) -> bool:
        tail = _lines_with_hidden_returns(itertools.islice(self._open_lines(), last_offset - 1, None))
        try:
            list(csv.reader(tail, delimiter=self._delimiter, strict=True))
        except csv.Error as exc:
            return "unexpected end of data" in str(exc)
        return False


def record_chunks(
    classified: Iterator[tuple[int, list[str], str | None]], size: int | None, size_bytes: int | None = None
) -> Iterator[tuple[list[list[str]], list[int], list[tuple[int, str, str]]]]:
    """(records as wide as the header, their lines, the others as MALFORMED_SCHEMA rows), ``size`` records at a time.

    A chunk also ends once its fields hold ``size_bytes`` characters (wide free-text records make
    fewer per chunk). The last chunk, perhaps empty, is always yielded; ``size`` None makes one chunk.
    """
    good: list[list[str]] = []
    lines: list[int] = []
    bad: list[tuple[int, str, str]] = []
    held = 0
    for line, record, reason in classified:
        if size and (len(good) + len(bad) >= size or (size_bytes and held >= size_bytes)):
            yield good, lines, bad
            good, lines, bad, held = [], [], [], 0
        if size_bytes:
            held += sum(map(len, record))
        if reason:
            bad.append((line, reason, _raw_json(record)))
        else:
            good.append(record)
            lines.append(line)
    yield good, lines, bad


def _raw_json(record: list[str]) -> str:
    return json.dumps(record, ensure_ascii=False).replace(HIDDEN_RETURN, "\\r")


def _width_reason(fields: int, width: int) -> str:
    return f"record has {fields} field{'' if fields == 1 else 's'}, the header has {width}"


def misshapen_records(path: Path, skip: int, width: int, delimiter: str) -> tuple[pl.DataFrame, int | None]:
    """The records of a large text file not as wide as its header (MALFORMED_SCHEMA), by their first line.

    Polars pads a short record with empty strings, which cannot be told from empty fields, and
    cuts a wide one; Python's reader, one pass over the file, finds them so they are set aside
    as the whole-file reader does. Also returns how many records come before a last one cut
    inside quotes (which Polars cannot read at all), or None when there is no such record.
    """
    records = Records(lambda: file_lines(path, skip), delimiter, skip, width)
    bad = [(line, reason, _raw_json(record)) for line, record, reason in records if reason]
    return pl.DataFrame(bad, schema=MALFORMED_SCHEMA, orient="row"), records.count - 1 if records.cut else None


def _lines_with_hidden_returns(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if "\r" in line:
            ending = "\r\n" if line.endswith("\r\n") else "\n" if line.endswith("\n") else ""
            line = line[: len(line) - len(ending)].replace("\r", HIDDEN_RETURN) + ending
        yield line


def file_lines(path: Path, skip: int, strict: bool = False) -> Iterator[str]:
    """The lines of a UTF-8 file after the first ``skip``, ending at line feeds only."""
    with path.open(encoding="utf-8", errors="strict" if strict else "replace", newline="\n") as handle:
        yield from itertools.islice(handle, skip, None)
