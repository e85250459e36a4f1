"""Read one export (CSV/TSV, Excel, Parquet, JSON, JSON Lines) into a raw frame of strings.

Grain of the output: one row per source record, every source column as a string, plus
``LINE``, the physical line (or sheet row) where the record starts, so a rejected row
can be found in the original file. Its name starts with a space, which no source column's can
(headers are stripped), so a source column of any name is kept.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.common import limits
from pipelines.common.errors import IngestError
from pipelines.read import guards

LINE = " __line"
SNIFF_BYTES = 256 * 1024
DELIMITERS = (",", "\t", ";", "|")
MAX_PREAMBLE_LINES = 30


MALFORMED_SCHEMA = {LINE: pl.Int64, "reason": pl.String, "raw_record": pl.String}


@dataclass(frozen=True)
class RawExport:
    frame: pl.DataFrame
    file_name: str
    file_format: str
    encoding: str
    delimiter: str | None
    header_line: int
    # Records that are not rows of the table at all (wrong number of fields), with the reason.
    malformed: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MALFORMED_SCHEMA))
    # Bytes the encoding could not decode, each read as REPLACEMENT: their rows are rejected.
    replaced_bytes: int = 0
    # Header names the file gives to more than one column (the later ones renamed NAME_2, ...).
    repeated_headers: tuple[str, ...] = ()

    @property
    def source_columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != LINE]


def detect_encoding(data: bytes) -> tuple[str, str]:
    """Return (encoding label, decoded text).

    Order matters: UTF-8 (with or without BOM), UTF-16 with a BOM, then GB18030, and only
    then a statistical detector, because detectors take short GBK text for Korean.
    """
    if data.startswith(codecs.BOM_UTF8):
        # The mark can be wrong (a tool adds it to GBK text), and UTF-8 after it can hold a bad byte.
        label, text = detect_encoding(data[len(codecs.BOM_UTF8) :])
        return ("utf-8-sig" if label == "utf-8" else label), text
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        label = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        return label, data[2:].decode(label)
    try:
        return "utf-8", data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lossy = data.decode("utf-8", errors="replace")
    invalid = lossy.count(REPLACEMENT) - data.decode("utf-8", "ignore").count(REPLACEMENT)
    few_invalid = 0 < invalid <= min(MAX_INVALID_UTF8, max(1, data.count(b"\n") // LINES_PER_INVALID_UTF8))
    # GB18030 decodes almost any even run of UTF-8 Chinese, as gibberish; many good UTF-8
    # characters around a few bad bytes say the file is UTF-8. GBK text makes few by chance.
    if few_invalid and len(lossy) - len(lossy.encode("ascii", "ignore")) - invalid >= 2 * invalid:
        return "utf-8", lossy
    try:
        return "gb18030", data.decode("gb18030")
    except UnicodeDecodeError:
        pass
    if few_invalid:
        return "utf-8", lossy
    from charset_normalizer import from_bytes

    best = from_bytes(data[:SNIFF_BYTES]).best()
    if best is not None:
        try:
            return best.encoding, data.decode(best.encoding)
        except (UnicodeDecodeError, LookupError):
            pass
    raise UnicodeDecodeError("unknown", data[:1], 0, 1, "no known encoding decodes this file")


REPLACEMENT = "\ufffd"
# A UTF-8 file with at most this many undecodable bytes, one per this many lines at most, is
# UTF-8 with a few corrupt bytes (whose rows are rejected), not a file in another encoding.
MAX_INVALID_UTF8 = 20
LINES_PER_INVALID_UTF8 = 100


def sniff_format(name: str, data: bytes) -> str:
    """csv, excel, parquet, json or jsonl, from the content first and the name second."""
    if data[:4] == b"PAR1":
        return "parquet"
    if data[:4] == b"PK\x03\x04":
        return "excel"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return "xls"
    head = data[:SNIFF_BYTES].lstrip(codecs.BOM_UTF8).lstrip()
    if data.startswith(codecs.BOM_UTF16_LE) or data.startswith(codecs.BOM_UTF16_BE):  # JSON told by its start
        head = data[2:SNIFF_BYTES].decode(detect_encoding(data[:2])[0], "ignore").encode().lstrip()
    suffix = Path(name).suffix.lower()
    if head[:1] == b"[" or (head[:1] == b"{" and suffix == ".json"):
        return "json"
    if head[:1] == b"{":
        return "jsonl"
    return "csv"


def _field_counts(lines: list[str], delimiter: str) -> list[int]:
    try:
        return [len(row) for row in csv.reader(lines, delimiter=delimiter)]
    except csv.Error:  # a quote left open (a truncated record): line by line it spoils one line only
        return [len(next(csv.reader([line], delimiter=delimiter), [])) for line in lines]


def sniff_layout(text: str) -> tuple[str, int]:
    """Return (delimiter, number of preamble lines before the header).

    The header is the first line whose field count matches the records that follow it,
    so console output or report titles above the table are skipped.
    """
    sample_lines = text[:SNIFF_BYTES].splitlines()[: MAX_PREAMBLE_LINES + 200]
    if len(text) > SNIFF_BYTES and len(sample_lines) > 1:
        sample_lines = sample_lines[:-1]  # the cut may have split the last line
    best: tuple[float, str, int] | None = None
    for delimiter in DELIMITERS:
        for skip in range(min(MAX_PREAMBLE_LINES, max(len(sample_lines) - 1, 1))):
            try:
                counts = _field_counts(sample_lines[skip:], delimiter)
            except csv.Error:
                continue
            if not counts or counts[0] < 2:
                continue
            body = counts[1:] or counts
            consistency = sum(1 for c in body if c == counts[0]) / len(body)
            if consistency >= 0.5:
                score = consistency * min(counts[0], 50)
                if best is None or score > best[0]:
                    best = (score, delimiter, skip)
                break
    if best is None:
        lines = [line for line in sample_lines if line.strip()]
        if len(lines) >= 1 and all(len(row) == 1 for row in csv.reader(lines)):
            return ",", 0  # a single-column table
        raise ValueError("no table found: the file has no line that looks like a header with columns")
    return best[1], best[2]


def _repeated(headers: list[str]) -> tuple[str, ...]:
    names = [(h or "").strip() for h in headers]
    return tuple(sorted({n for n in names if n and names.count(n) > 1}))


def _dedupe_headers(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for index, header in enumerate(headers):
        name = (header or "").strip() or f"column_{index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 1
        result.append(name)
    return result


def _read_csv(name: str, text: str) -> tuple[pl.DataFrame, pl.DataFrame, str, int, tuple[str, ...]]:
    delimiter, preamble = sniff_layout(text)
    lines_iter = io.StringIO(text)
    for _ in range(preamble):
        lines_iter.readline()
    header_row = next(csv.reader([lines_iter.readline()], delimiter=delimiter))
    headers = _dedupe_headers(header_row)
    body = lines_iter.read()
    header_line = preamble + 1
    no_malformed = pl.DataFrame(schema=MALFORMED_SCHEMA)
    if not body.strip():
        return (
            pl.DataFrame(schema={**dict.fromkeys(headers, pl.String), LINE: pl.Int64}),
            no_malformed,
            delimiter,
            header_line,
            _repeated(header_row),
        )
    # Polars pads a short record with nulls, and a line break in an unquoted field makes two short
    # records that would load as two wrong rows: records not as wide as the header are set aside.
    records = _Records(lambda: io.StringIO(body, newline="\n"), delimiter, header_line, len(headers))
    if any(reason for _, _, reason in records):
        frame, malformed = _read_ragged_csv(body, headers, delimiter, header_line)
        return frame, malformed, delimiter, header_line, _repeated(header_row)
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
        return frame, malformed, delimiter, header_line, _repeated(header_row)
    # A record starts one line after the previous record, plus the line breaks quoted inside it.
    breaks = pl.sum_horizontal(pl.col(h).str.count_matches("\n").fill_null(0) for h in headers)
    frame = frame.with_columns((header_line + 1 + (breaks + 1).cum_sum() - (breaks + 1)).cast(pl.Int64).alias(LINE))
    return frame, no_malformed, delimiter, header_line, _repeated(header_row)


# Polars ends records only at line feeds; Python's csv module also at a bare carriage return,
# which exports hold inside text. Hidden while Python reads, restored afterwards.
HIDDEN_RETURN = "\ue000"


def _read_ragged_csv(
    body: str, headers: list[str], delimiter: str, header_line: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Slow path for files with records not as wide as the header: those records are set aside."""
    records = _Records(lambda: io.StringIO(body, newline="\n"), delimiter, header_line, len(headers))
    good, lines, bad = next(_chunks(iter(records), size=None))
    return _records_frame(good, lines, headers), pl.DataFrame(bad, schema=MALFORMED_SCHEMA, orient="row")


def _records_frame(records: list[list[str]], lines: list[int], headers: list[str]) -> pl.DataFrame:
    """Records as wide as the header, read by Python's csv reader, as a frame with their lines."""
    frame = pl.DataFrame(records, schema=dict.fromkeys(headers, pl.String), orient="row").with_columns(
        pl.Series(LINE, lines, dtype=pl.Int64)
    )
    return frame.with_columns(pl.col(h).replace("", None).str.replace_all(HIDDEN_RETURN, "\r") for h in headers)


CUT_REASON = "record cut inside a quoted field"


class _Records:
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


def _chunks(
    classified: Iterator[tuple[int, list[str], str | None]], size: int | None
) -> Iterator[tuple[list[list[str]], list[int], list[tuple[int, str, str]]]]:
    """(records as wide as the header, their lines, the others as MALFORMED_SCHEMA rows), ``size`` records at a time.

    The last chunk, perhaps empty, is always yielded; ``size`` None makes one chunk.
    """
    good: list[list[str]] = []
    lines: list[int] = []
    bad: list[tuple[int, str, str]] = []
    for line, record, reason in classified:
        if size and len(good) + len(bad) >= size:
            yield good, lines, bad
            good, lines, bad = [], [], []
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


def _misshapen_records(path: Path, skip: int, width: int, delimiter: str) -> tuple[pl.DataFrame, int | None]:
    """The records of a large text file not as wide as its header (MALFORMED_SCHEMA), by their first line.

    Polars pads a short record with empty strings, which cannot be told from empty fields, and
    cuts a wide one; Python's reader, one pass over the file, finds them so they are set aside
    as the whole-file reader does. Also returns how many records come before a last one cut
    inside quotes (which Polars cannot read at all), or None when there is no such record.
    """
    records = _Records(lambda: _file_lines(path, skip), delimiter, skip, width)
    bad = [(line, reason, _raw_json(record)) for line, record, reason in records if reason]
    return pl.DataFrame(bad, schema=MALFORMED_SCHEMA, orient="row"), records.count - 1 if records.cut else None


def _lines_with_hidden_returns(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if "\r" in line:
            ending = "\r\n" if line.endswith("\r\n") else "\n" if line.endswith("\n") else ""
            line = line[: len(line) - len(ending)].replace("\r", HIDDEN_RETURN) + ending
        yield line


def _file_lines(path: Path, skip: int, strict: bool = False) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="strict" if strict else "replace", newline="\n") as handle:
        yield from itertools.islice(handle, skip, None)


# Uploaded bytes (the app's files) and a workbook's unpacked content are refused above these
# sizes; the command line reads files of any size from disk, in parts.
MAX_UPLOAD_ENV, MAX_EXCEL_ENV = limits.UPLOAD_MB.env, limits.EXCEL_MB.env
# Real workbooks unpack to a few times their size; a zip bomb to thousands of times.
MAX_EXCEL_RATIO = 100


def _filled_rows(sheet: pl.DataFrame) -> int:
    """Rows with at least two cells filled: a table's rows, not a note."""
    filled = pl.sum_horizontal(pl.col(c).is_not_null() for c in sheet.columns)
    return sheet.select((filled >= 2).sum()).item() if sheet.width else 0


def _check_workbook(name: str, data: bytes) -> None:
    """IngestError unless the bytes are a workbook that unpacks within the limits (no zip bomb)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if not any(n.startswith("xl/") for n in archive.namelist()):
                raise IngestError(name, "a zip archive, not an Excel workbook")
            limit = limits.EXCEL_MB.bytes()
            budget = min(limit, MAX_EXCEL_RATIO * max(len(data), 1024 * 1024))
            unpacked = sum(entry.file_size for entry in archive.infolist())
            refusal = f"(limit {limit / 1024 / 1024:,.0f} MB, {MAX_EXCEL_RATIO}x its size); refused unread"
            if unpacked > budget:
                raise IngestError(name, f"the workbook unpacks to {unpacked / 1024 / 1024:,.0f} MB {refusal}")
            # The sizes an archive states can lie, and the Excel reader believes the data; every entry
            # unpacked once against its stated size and checksum shows a lie (and a cell over the field limit).
            if (lying := guards.unpacked_entries(name, archive)) is not None:
                raise IngestError(name, f"damaged Excel file ({lying} does not match its stated size and checksum)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError) as exc:
        raise IngestError(name, "damaged Excel file (not a valid .xlsx archive)") from exc


def _sheets(name: str, data: bytes) -> dict[str, pl.DataFrame]:
    """Every sheet of a workbook as text cells, once the archive is known to unpack within the limits."""
    _check_workbook(name, data)
    try:
        return pl.read_excel(
            data, sheet_id=0, has_header=False, infer_schema_length=0, drop_empty_rows=False, raise_if_empty=False
        )
    except (Exception, pl.exceptions.PanicException) as exc:  # the Excel reader's own errors, or a panic
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise IngestError(name, f"cannot read as excel: {first_line[:200]}") from exc


def _tables(sheets: dict[str, pl.DataFrame]) -> list[str]:
    """The sheets that hold a table (two rows or more with two cells filled), not only a note."""
    return [sheet_name for sheet_name, sheet in sheets.items() if _filled_rows(sheet) >= 2]


def workbook_tables(name: str, data: bytes) -> list[str]:
    """The sheets of a workbook that hold a table, for choosing one to load."""
    limits.check(name)
    return _tables(_sheets(name, data))


def _read_excel(name: str, data: bytes, sheet: str | None = None) -> tuple[pl.DataFrame, int, tuple[str, ...]]:
    sheets = _sheets(name, data)
    if sheet is not None:
        if sheet not in sheets:
            raise IngestError(name, f"no sheet {sheet!r} in the workbook (it has {', '.join(sheets)})")
        grid = sheets[sheet]
    else:
        # Without a choice only one sheet may hold a table: the others would be silently left out.
        tables = _tables(sheets)
        if len(tables) > 1:
            raise IngestError(
                name,
                f"the workbook has {len(tables)} sheets with tables ({', '.join(tables)}); "
                "choose one (--sheet NAME, or the sheet box on the Upload page)",
            )
        grid = next(iter(sheets.values()))
    grid = guards.as_text(grid).with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    value_cols = [c for c in grid.columns if c != LINE]
    filled = grid.select(pl.sum_horizontal(pl.col(c).is_not_null() for c in value_cols).alias("n"))["n"]
    if grid.height == 0 or filled.max() == 0:
        raise IngestError(name, "the workbook's first sheet is empty")
    widest = filled.max()
    # The header is the first row as wide as the table: titles and notes above it are skipped.
    header_index = next(i for i, n in enumerate(filled.to_list()) if n >= max(2, widest * 0.6) or n == widest)
    header_row = [str(v) if v is not None else "" for v in grid.row(header_index)[1:]]
    headers = _dedupe_headers(header_row)
    body = grid.slice(header_index + 1)
    body = body.rename(dict(zip(value_cols, headers, strict=True)))
    is_blank = pl.all_horizontal(pl.col(h).is_null() for h in headers)
    return body.filter(~is_blank), header_index + 1, _repeated(header_row)


def _stripped(frame: pl.DataFrame) -> pl.DataFrame:
    """JSON keys named as CSV headers are (stripped, repeats numbered), before LINE is added: none is LINE."""
    return frame.rename(dict(zip(frame.columns, _dedupe_headers(frame.columns), strict=True)))


def _read_json(name: str, data: bytes, text: str, jsonl: bool) -> pl.DataFrame:
    if jsonl:
        frame = _stripped(pl.read_ndjson(text.encode("utf-8"), infer_schema_length=None))
        return guards.as_text(frame).with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))
    parsed = json.loads(text)
    if isinstance(parsed, dict):
        lists = [v for v in parsed.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise IngestError(name, "JSON object without a single list of records")
        parsed = lists[0]
    if not isinstance(parsed, list) or not all(isinstance(r, dict) for r in parsed):
        raise IngestError(name, "JSON is not a list of records")
    frame = _stripped(pl.DataFrame(parsed, infer_schema_length=None) if parsed else pl.DataFrame())
    # JSON arrays have no useful line numbers: the record's position (1-based) stands in.
    return guards.as_text(frame).with_row_index(LINE, offset=1).with_columns(pl.col(LINE).cast(pl.Int64))


# Files at least this large (CSAT_RADAR_STREAM_MB megabytes, unless set here) are read in parts of
# STREAM_ROWS records, so memory stays bounded.
STREAM_BYTES: int | None = None
STREAM_ROWS = 200_000
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
    repeated_headers: tuple[str, ...] = ()
    # Read again with invalid bytes replaced (their rows rejected), after a strict read met one.
    lossy: bool = False
    # Records not as wide as the header, set aside by their first line (see _misshapen_records),
    # and how many records Polars is to read when the last one is cut inside quotes.
    misshapen: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=MALFORMED_SCHEMA))
    readable_records: int | None = None
    # Read by Python's csv reader instead of Polars (slower), after Polars refused the file.
    python_reader: bool = False

    @property
    def file_format(self) -> str:
        return "tsv" if self.delimiter == "\t" else "csv"

    def parts(self) -> Iterator[RawExport]:
        """Yield the records as RawExports with their physical line numbers; IngestError when unreadable."""
        if self.python_reader:
            yield from self._python_parts()
            return
        lazy = pl.scan_csv(
            self.path,
            has_header=False,
            skip_lines=self.skip,  # lines, not records: a quote in the header opens nothing
            new_columns=self.headers,
            separator=self.delimiter,
            infer_schema=False,
            empty_string_is_null=False,
            missing_columns="insert",
            truncate_ragged_lines=True,  # a wide record is set aside whole, from self.misshapen
            n_rows=self.readable_records,
            raise_if_empty=False,
            encoding="utf8-lossy" if self.lossy else "utf8",
        )
        next_line = self.header_line + 1
        try:
            for part in lazy.collect_batches(chunk_size=self.rows, maintain_order=True):
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

    def _python_parts(self) -> Iterator[RawExport]:
        """The parts as Python's csv reader reads them: as lenient as the whole-file reader, in bounded memory."""
        records = _Records(lambda: _file_lines(self.path, self.skip, strict=not self.lossy), self.delimiter,
                           self.skip, len(self.headers))  # fmt: skip
        try:
            for good, lines, bad in _chunks(iter(records), self.rows):
                if good or bad:
                    yield self._python_part(good, lines, bad)
        except UnicodeDecodeError as exc:
            raise InvalidUtf8(str(exc)) from exc

    def _python_part(self, good: list[list[str]], lines: list[int], bad: list[tuple[int, str, str]]) -> RawExport:
        return self._part(_records_frame(good, lines, self.headers), pl.DataFrame(bad, MALFORMED_SCHEMA, orient="row"))

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
    headers = _dedupe_headers(header_row)
    skip = preamble + 1
    guards.check_lines(file_name, source)  # before Python's reader holds a line whole, and Polars a field
    try:
        misshapen, readable_records = _misshapen_records(source, skip, len(headers), delimiter)
    except guards.FieldTooLong as exc:  # a quoted field, over the limit, across lines each short enough
        raise guards.field_too_long(file_name, exc.line) from exc
    return CsvStream(
        source, file_name, encoding, delimiter, skip, skip, headers, STREAM_ROWS, _repeated(header_row),
        misshapen=misshapen, readable_records=readable_records,
    )  # fmt: skip


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


def read_export(source: str | Path | bytes, file_name: str | None = None, sheet: str | None = None) -> RawExport:
    """Read a file (path or bytes) into a RawExport, or raise IngestError with one clear line.

    ``sheet`` names the sheet of a workbook to read (other formats have none).
    """
    file_name = file_name or (Path(source).name if isinstance(source, (str, Path)) else "upload")
    limits.check(file_name)
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise IngestError(file_name, "file not found") from exc
        except IsADirectoryError as exc:
            raise IngestError(file_name, "is a directory, not a file") from exc
        except PermissionError as exc:
            raise IngestError(file_name, "permission denied") from exc
    else:
        data = source
        limit = limits.UPLOAD_MB.bytes()
        if len(data) > limit:
            raise IngestError(
                file_name,
                f"{len(data) / 1024 / 1024:,.0f} MB is over the upload limit of {limit / 1024 / 1024:,.0f} MB "
                f"({MAX_UPLOAD_ENV}); load it with csat-radar ingest instead",
            )
    if not data.strip():
        raise IngestError(file_name, "the file is empty")
    csv.field_size_limit(guards.max_field_bytes())

    file_format = sniff_format(file_name, data)
    if sheet is not None and file_format != "excel":
        raise IngestError(file_name, f"--sheet is for Excel workbooks; this file reads as {file_format}")
    try:
        if file_format == "xls":
            raise IngestError(file_name, "old Excel 97-2003 .xls format; save it as .xlsx or CSV")
        if file_format == "parquet":
            frame, off_calendar = guards.read_parquet(file_name, data, LINE, _dedupe_headers)
            return RawExport(frame, file_name, "parquet", "binary", None, 0, off_calendar)
        if file_format == "excel":
            frame, header_line, repeated = _read_excel(file_name, data, sheet)
            return RawExport(frame, file_name, "excel", "binary", None, header_line, repeated_headers=repeated)
        if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            raise IngestError(file_name, "binary content, not a text table")
        try:
            encoding, text = detect_encoding(data)
        except UnicodeDecodeError as exc:
            raise IngestError(file_name, "cannot decode the text (not UTF-8, UTF-16 or GB18030)") from exc
        utf8 = data if encoding.startswith("utf-8") else text.encode("utf-8")  # brackets and line ends as bytes
        if file_format != "json":  # a JSON array may well be one line
            guards.check_lines(file_name, utf8)
        if file_format in ("json", "jsonl"):
            guards.check_json(file_name, file_format, utf8)
            frame = _read_json(file_name, data, text, file_format == "jsonl")
            return RawExport(frame, file_name, file_format, encoding, None, 0)
        if "\r" in text and "\n" not in text:
            text = text.replace("\r", "\n")  # old Mac line endings: a bare carriage return ends each line
        try:
            frame, malformed, delimiter, header_line, repeated = _read_csv(file_name, text)
        except ValueError as exc:
            raise IngestError(file_name, str(exc)) from exc
        except guards.FieldTooLong as exc:  # a quoted field, over the limit, across lines each short enough
            raise guards.field_too_long(file_name, exc.line) from exc
        file_format = "tsv" if delimiter == "\t" else "csv"
        replaced = text.count(REPLACEMENT) if encoding.startswith("utf-8") and REPLACEMENT.encode() not in data else 0
        return RawExport(frame, file_name, file_format, encoding, delimiter, header_line, malformed, replaced, repeated)
    except IngestError:
        raise
    # What a damaged file makes a parsing library raise is open-ended; Polars may even panic.
    except (Exception, pl.exceptions.PanicException) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if isinstance(exc, RecursionError):
            first_line = "nested too deeply to read"
        raise IngestError(file_name, f"cannot read as {file_format}: {first_line[:200]}") from exc
