"""Excel workbooks (.xlsx): checked against zip bombs, then one sheet read into a raw frame of strings.

Grain: one row per sheet row below the header, by its row number; blank rows are dropped.
"""

from __future__ import annotations

import io
import zipfile

import polars as pl

from pipelines.common import limits
from pipelines.common.errors import ChoiceNeeded, IngestError
from pipelines.read import guards
from pipelines.read.raw import LINE, dedupe_headers, repeated_names

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


def read_workbook(name: str, data: bytes, sheet: str | None = None) -> tuple[pl.DataFrame, int, tuple[str, ...]]:
    sheets = _sheets(name, data)
    if sheet is not None:
        if sheet not in sheets:
            raise IngestError(name, f"no sheet {sheet!r} in the workbook (it has {', '.join(sheets)})")
        grid = sheets[sheet]
    else:
        # Without a choice only one sheet may hold a table: the others would be silently left out.
        tables = _tables(sheets)
        if len(tables) > 1:
            raise ChoiceNeeded(
                name, f"the workbook has {len(tables)} sheets with tables ({', '.join(tables)}); choose one", "sheet"
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
    headers = dedupe_headers(header_row)
    body = grid.slice(header_index + 1)
    body = body.rename(dict(zip(value_cols, headers, strict=True)))
    is_blank = pl.all_horizontal(pl.col(h).is_null() for h in headers)
    return body.filter(~is_blank), header_index + 1, repeated_names(header_row)
