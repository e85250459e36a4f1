"""Downloads people open in a spreadsheet: CSV with formula-looking cells defused."""

from __future__ import annotations

import polars as pl

# A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# ...except a plain signed figure such as "-1.9 pts" or "+12%", which no spreadsheet runs.
PLAIN_FIGURE = r"^[+-][0-9][0-9.,]*\s?(pts|%|h|d|min)?$"


def escape_formula_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix every text cell that a spreadsheet would run as a formula with an apostrophe."""
    risky = "^[" + "".join(("\\" + c) if c in "-+=@" else c for c in FORMULA_STARTS) + "]"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(risky) & ~pl.col(name).str.contains(PLAIN_FIGURE))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """The frame as UTF-8 CSV with a byte-order mark (so Excel reads Chinese right), formulas escaped."""
    flat = frame.with_columns(
        pl.col(name).cast(pl.String) for name, dtype in frame.schema.items() if dtype.is_nested() or dtype == pl.Object
    )
    return b"\xef\xbb\xbf" + escape_formula_cells(flat).write_csv().encode("utf-8")
