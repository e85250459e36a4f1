"""Read one export (CSV/TSV, Excel, Parquet, JSON, JSON Lines) into a RawExport: its format sniffed, its reader run.

Grain of the output: one row per source record (see ``pipelines.read.raw``). Large text
tables the command line loads are read in parts by ``pipelines.read.stream`` instead.
"""

from __future__ import annotations

import codecs
import csv
import json
from pathlib import Path

import polars as pl

from pipelines.common import limits
from pipelines.common.errors import IngestError
from pipelines.read import guards
from pipelines.read.raw import LINE, RawExport, dedupe_headers
from pipelines.read.sniff import REPLACEMENT, detect_encoding, sniff_format
from pipelines.read.text import read_csv_text
from pipelines.read.workbook import read_workbook

# Uploaded bytes (the app's files) are refused above this size; the command line reads files
# of any size from disk, in parts.
MAX_UPLOAD_ENV = limits.UPLOAD_MB.env


def _stripped(frame: pl.DataFrame) -> pl.DataFrame:
    """JSON keys named as CSV headers are (stripped, repeats numbered), before LINE is added: none is LINE."""
    return frame.rename(dict(zip(frame.columns, dedupe_headers(frame.columns), strict=True)))


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


def source_name(source: str | Path | bytes, file_name: str | None = None) -> str:
    """The name a file is known by in messages and batches: the one given, its own, or "upload" for bytes."""
    return file_name or (Path(source).name if isinstance(source, (str, Path)) else "upload")


def read_export(source: str | Path | bytes, file_name: str | None = None, sheet: str | None = None) -> RawExport:
    """Read a file (path or bytes) into a RawExport, or raise IngestError with one clear line.

    ``sheet`` names the sheet of a workbook to read (other formats have none).
    """
    file_name = source_name(source, file_name)
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
            frame, off_calendar = guards.read_parquet(file_name, data, LINE, dedupe_headers)
            return RawExport(frame, file_name, "parquet", "binary", None, 0, off_calendar)
        if file_format == "excel":
            frame, header_line, repeated = read_workbook(file_name, data, sheet)
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
            frame, malformed, delimiter, header_line, repeated = read_csv_text(text)
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
