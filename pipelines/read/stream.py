"""Large delimited text files read part by part (``CsvStream``), so memory stays bounded whatever their size.

Grain: each part is a RawExport of records with their physical lines, of about ``part_bytes``
(``pipelines.warehouse.machine.part_bytes``) and at most ``STREAM_ROWS`` records: sized by bytes,
so a file of wide free-text rows is read in as little memory as a narrow one.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.common import limits
from pipelines.common.errors import IngestError
from pipelines.common.limits import SettingError
from pipelines.read import guards
from pipelines.read.raw import LINE, MALFORMED_SCHEMA, RawExport, dedupe_headers, repeated_names
from pipelines.read.shape import record_ranges
from pipelines.read.sniff import SNIFF_BYTES, detect_encoding, sniff_format, sniff_layout
from pipelines.read.text import Records, file_lines, misshapen_records, record_chunks, records_frame
from pipelines.warehouse import machine

# Files at least this large (CSAT_RADAR_STREAM_MB megabytes, unless set here) are read in parts of
# about part_bytes (CSAT_RADAR_PART_MB) and at most STREAM_ROWS records, so memory stays bounded.
STREAM_BYTES: int | None = None
STREAM_ROWS = 1_000_000
# Polars reads batches of about this share of a part, gathered into parts by their size.
BATCHES_PER_PART = 16
TRANSCODE_CHUNK = 16 * 1024 * 1024


class NotStreamable(Exception):
    """The file needs the whole-file reader (a profile that needs every row at once, a quirk Polars refuses)."""


class InvalidUtf8(NotStreamable):
    """A large UTF-8 file holds a byte that is not UTF-8: it is read again with the byte replaced."""


class PolarsRefused(NotStreamable):
    """Polars cannot read a large file (a quote inside an unquoted field): Python's reader reads it again."""


@dataclass(frozen=True)
class CsvStream:
    """A large delimited text file read part by part; each part is a RawExport of up to ``rows`` records."""

    path: Path  # UTF-8 text (the file itself, or a transcoded copy)
    file_name: str
    encoding: str
    delimiter: str
    skip: int  # rows before the first record (preamble and header)
    header_line: int
    headers: list[str]
    rows: int = STREAM_ROWS
    part_bytes: int = 32 * 1024 * 1024  # a part's size as Polars holds it (its last batch may go over)
    record_bytes: int = 256  # a record's size in the file, from its head: how many records a batch reads
    repeated_headers: tuple[str, ...] = ()
    # Read again with invalid bytes replaced (their rows rejected), after a strict read met one.
    lossy: bool = False
    # Records not as wide as the header, set aside by their first line (see misshapen_records),
    # and how many records Polars is to read when the last one is cut inside quotes.
    misshapen: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MALFORMED_SCHEMA))
    readable_records: int | None = None
    # Read by Python's csv reader instead of Polars (slower), after Polars refused the file.
    python_reader: bool = False
    # Where each part begins in the file, and its end (``pipelines.read.shape``); empty when unknown.
    ranges: tuple[int, ...] = ()

    @property
    def file_format(self) -> str:
        return "tsv" if self.delimiter == "\t" else "csv"

    def parts(self) -> Iterator[RawExport]:
        """Yield the records as RawExports with their physical line numbers; IngestError when unreadable."""
        if self.python_reader:
            yield from self._python_parts()
            return
        next_line = self.header_line + 1
        try:
            for part in self._frames():
                breaks = pl.sum_horizontal(pl.col(h).str.count_matches("\n").fill_null(0) for h in self.headers)
                part = part.with_columns((next_line + (breaks + 1).cum_sum() - (breaks + 1)).cast(pl.Int64).alias(LINE))
                first_line = next_line
                if part.height:
                    last = part.select(pl.col(LINE).last() + breaks.last()).item()
                    next_line = last + 1
                yield self._part(part, self.misshapen.filter(pl.col(LINE).is_between(first_line, next_line - 1)))
            # A last record cut inside quotes, which Polars was not given to read.
            if (cut := self.misshapen.filter(pl.col(LINE) >= next_line)).height:
                yield self._part(pl.DataFrame(schema={**dict.fromkeys(self.headers, pl.String), LINE: pl.Int64}), cut)
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as exc:
            if "invalid utf-8" in str(exc) and not self.lossy:
                raise InvalidUtf8(str(exc)) from exc
            raise PolarsRefused(str(exc)) from exc

    def _options(self) -> dict:
        return dict(
            has_header=False,
            new_columns=self.headers,
            separator=self.delimiter,
            infer_schema=False,
            empty_string_is_null=False,
            missing_columns="insert",
            truncate_ragged_lines=True,  # a wide record is set aside whole, from self.misshapen
            raise_if_empty=False,
            encoding="utf8-lossy" if self.lossy else "utf8",
        )

    def _frames(self) -> Iterator[pl.DataFrame]:
        """The records as frames of at most ``rows`` rows and about ``part_bytes``, in the file's order.

        With ``ranges`` each part's bytes are read when it is asked for; otherwise Polars' streaming
        reader, which may run ahead of the parts asked for.
        """
        if self.ranges:
            with self.path.open("rb") as handle:
                for start, end in itertools.pairwise(self.ranges):
                    handle.seek(start)
                    frame = pl.read_csv(handle.read(end - start), **self._options())
                    yield from (frame.slice(first, self.rows) for first in range(0, frame.height, self.rows))
            return
        lazy = pl.scan_csv(self.path, skip_lines=self.skip, n_rows=self.readable_records, **self._options())
        batch_rows = max(1, min(self.rows, self.part_bytes // BATCHES_PER_PART // max(1, self.record_bytes)))
        yield from sized_parts(lazy.collect_batches(chunk_size=batch_rows, maintain_order=True), self.rows,
                               self.part_bytes)  # fmt: skip

    def _python_parts(self) -> Iterator[RawExport]:
        """The parts as Python's csv reader reads them: as lenient as the whole-file reader, in bounded memory."""
        records = Records(lambda: file_lines(self.path, self.skip, strict=not self.lossy), self.delimiter,
                           self.skip, len(self.headers))  # fmt: skip
        try:
            for good, lines, bad in record_chunks(iter(records), self.rows, self.part_bytes):
                if good or bad:
                    yield self._python_part(good, lines, bad)
        except UnicodeDecodeError as exc:
            raise InvalidUtf8(str(exc)) from exc

    def _python_part(self, good: list[list[str]], lines: list[int], bad: list[tuple[int, str, str]]) -> RawExport:
        return self._part(records_frame(good, lines, self.headers), pl.DataFrame(bad, MALFORMED_SCHEMA, orient="row"))

    def _part(self, part: pl.DataFrame, misshapen: pl.DataFrame) -> RawExport:
        return RawExport(
            part.join(misshapen, on=LINE, how="anti") if misshapen.height and part.height else part,
            self.file_name,
            self.file_format,
            self.encoding,
            self.delimiter,
            self.header_line,
            malformed=misshapen,
            replaced_bytes=int(self.lossy),
            repeated_headers=self.repeated_headers,
        )


def open_stream(path: Path, file_name: str, workdir: Path) -> CsvStream | None:
    """A CsvStream for a large text table, or None when the file is small or not a text table.

    Encodings other than UTF-8 are transcoded into ``workdir`` part by part first, so the
    reader never holds the whole file.
    """
    if path.stat().st_size < (limits.STREAM_MB.bytes() if STREAM_BYTES is None else STREAM_BYTES):
        return None
    csv.field_size_limit(guards.max_field_bytes())
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES * 4)
    if sniff_format(file_name, head) != "csv" or (
        b"\x00" in head[:4096] and not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    ):
        return None
    encoding, text = _head_encoding(file_name, head)
    if "\n" not in text:
        return None  # one line, or old Mac line endings: the whole-file reader knows them
    try:
        delimiter, preamble = sniff_layout(text)
    except ValueError as exc:
        raise IngestError(file_name, str(exc)) from exc
    lines = io.StringIO(text)
    for _ in range(preamble):
        lines.readline()
    try:
        header_row = next(csv.reader([lines.readline()], delimiter=delimiter))
    except csv.Error as exc:
        raise IngestError(file_name, f"cannot read as csv: {exc}") from exc
    source = path if encoding in ("utf-8", "utf-8-sig") else _transcode(path, file_name, encoding, workdir)
    headers = dedupe_headers(header_row)
    skip = preamble + 1
    guards.check_lines(file_name, source)  # before Python's reader holds a line whole, and Polars a field
    try:
        part_bytes = machine.part_bytes()
    except SettingError as exc:
        raise IngestError(file_name, str(exc)) from None
    misshapen, readable_records = pl.DataFrame(schema=MALFORMED_SCHEMA), None
    # Python's reader, a second pass over the file, only when the byte scan cannot say all records fit.
    ranges = record_ranges(source, skip, len(headers), delimiter, guards.max_field_bytes(), part_bytes)
    if ranges is None:
        try:
            misshapen, readable_records = misshapen_records(source, skip, len(headers), delimiter)
        except guards.FieldTooLong as exc:  # a quoted field, over the limit, across lines each short enough
            raise guards.field_too_long(file_name, exc.line) from exc
    return CsvStream(
        source, file_name, encoding, delimiter, skip, skip, headers, STREAM_ROWS, part_bytes,
        _record_bytes(text, preamble), repeated_names(header_row), misshapen=misshapen,
        readable_records=readable_records, ranges=tuple(ranges or ()),
    )  # fmt: skip


def sized_parts(batches: Iterable[pl.DataFrame], rows: int, part_bytes: int) -> Iterator[pl.DataFrame]:
    """Batches gathered into parts of about ``part_bytes`` (as Polars holds them) and at most ``rows`` rows.

    Sized by bytes, not rows: a part of wide free-text rows holds as much memory as one of narrow rows.
    """
    held: list[pl.DataFrame] = []
    held_rows = held_bytes = 0
    for batch in batches:
        while batch.height:
            taken = batch.head(rows - held_rows)
            batch = batch.slice(taken.height)
            held.append(taken)
            held_rows, held_bytes = held_rows + taken.height, held_bytes + taken.estimated_size()
            if held_rows >= rows or held_bytes >= part_bytes:
                yield pl.concat(held, rechunk=False)
                held, held_rows, held_bytes = [], 0, 0
    if held:
        yield pl.concat(held, rechunk=False)


def _record_bytes(head: str, preamble: int) -> int:
    """About how many bytes a record takes, from the records in a file's first bytes (their lines)."""
    lines = head.split("\n")[preamble + 1 : -1]
    return max(1, len("\n".join(lines).encode("utf-8")) // max(1, len(lines)))


def _head_encoding(file_name: str, head: bytes) -> tuple[str, str]:
    """The encoding of a file from its first bytes (a character cut at the end is dropped)."""
    for trim in range(4):
        try:
            return detect_encoding(head[: len(head) - trim] if trim else head)
        except UnicodeDecodeError:
            continue
    raise IngestError(file_name, "cannot decode the text (not UTF-8, UTF-16 or GB18030)")


def _transcode(path: Path, file_name: str, encoding: str, workdir: Path) -> Path:
    target = workdir / "utf8.csv"
    decoder = codecs.getincrementaldecoder(encoding.replace("-sig", ""))(errors="strict")
    offset = 0
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as sink:
        if encoding.startswith("utf-16"):
            offset = len(source.read(2))  # the byte-order mark
        elif (offset := len(codecs.BOM_UTF8)) and source.read(offset) != codecs.BOM_UTF8:
            offset = source.seek(0)  # no UTF-8 mark wrongly put before text in another encoding
        try:
            while chunk := source.read(TRANSCODE_CHUNK):
                sink.write(decoder.decode(chunk))
                offset += len(chunk)
            sink.write(decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            raise IngestError(file_name, f"cannot decode byte {offset + exc.start} as {encoding}") from exc
    return target
