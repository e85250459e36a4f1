"""The raw frame every reader returns, and the rules for naming its columns from a file's headers.

Grain: one row per source record, every source column as a string, plus ``LINE``, the
physical line (or sheet row) where the record starts, so a rejected row can be found in the
original file. Its name starts with a space, which no source column's can (headers are
stripped), so a source column of any name is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

LINE = " __line"

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


def repeated_names(headers: list[str]) -> tuple[str, ...]:
    """Header names given to more than one column (the later ones are renamed by ``dedupe_headers``)."""
    names = [(h or "").strip() for h in headers]
    return tuple(sorted({n for n in names if n and names.count(n) > 1}))


def dedupe_headers(headers: list[str]) -> list[str]:
    """Headers stripped, an empty one named column_N, a repeated one NAME_2, NAME_3, ..."""
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
