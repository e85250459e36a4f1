"""Keys for records their export gives no id: ``derived:<16 hex>``, a hash of the record's own content.

Grain: one key per source row whose id is empty. The content is the row's canonical values
(typed, so a date re-saved in another format or a column moved keeps its key) and its unmapped
source columns, each as ``name=value`` sorted by name, empty ones left out (so a column added
empty keeps the key too). The hash is md5, the same in every version of every engine: a key
must still match the warehouse after an upgrade, or loading the same file again would load
its rows twice. Rows whose content is the same get the same key: they are one record.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.read.raw import LINE, RawExport
from pipelines.stage.columns import CONTENT, DERIVED, EXTRA, RAW
from pipelines.stage.values import normalise_nulls
from pipelines.warehouse.schema import Table

PREFIX = "derived:"
SEPARATOR = "\x1f"  # the ASCII unit separator: not in the values of a text export


def content_text(frame: pl.DataFrame, names: list[str]) -> pl.Expr:
    """Each row's content as one text: ``name=value`` of its non-empty ``names``, sorted by name."""
    parts = [
        pl.when(pl.col(name).is_not_null()).then(pl.format("{}={}", pl.lit(name), _as_text(name, frame.schema[name])))
        for name in sorted(names)
    ]
    if not parts:
        return pl.lit("")
    return pl.concat_str(parts, separator=SEPARATOR, ignore_nulls=True)


def content_keys(content: pl.Series) -> pl.Series:
    """``derived:`` and the first 16 hex digits of the md5 of each content text, in the same order."""
    texts = pl.DataFrame({"row": pl.int_range(content.len(), eager=True), "content": content})
    with duckdb.connect() as con:
        con.register("texts", texts)
        keys = con.sql(f"SELECT '{PREFIX}' || left(md5(content), 16) AS key FROM texts ORDER BY row").pl()
    return keys["key"]


def is_derived(key: pl.Expr) -> pl.Expr:
    """Whether a key was derived from its record's content."""
    return key.str.starts_with(PREFIX)


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A value as stable text: a timestamp in UTC to the microsecond in ISO form, anything else cast."""
    if isinstance(dtype, pl.Datetime):
        utc = pl.col(name).dt.convert_time_zone("UTC") if dtype.time_zone else pl.col(name)
        return utc.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f")
    return pl.col(name).cast(pl.String)


def with_derived_keys(frame: pl.DataFrame, table: Table, raw: RawExport, unmapped: list[str]) -> pl.DataFrame:
    """Rows without an id keyed by their content; their RAW follows the key, so rows of one content are one record.

    Two rows can be the same record in other spellings (a date re-saved in another format):
    they get one key and must not conflict with each other. Only rows without an id are read
    for their content, so a file with ids pays nothing.
    """
    keyless = frame.filter(pl.col(table.key).is_null())
    if not keyless.height:
        return frame
    source = normalise_nulls(raw.frame.select(LINE, *unmapped), unmapped)
    extra = source.select(LINE, content_text(source, unmapped).alias(EXTRA))
    keyless = keyless.join(extra, on=LINE, how="left")
    values = [c for c in keyless.columns if c in table.column_names and c != table.key]
    keyless = keyless.select(LINE, content_text(keyless, [*values, EXTRA]).alias(CONTENT))
    derived = keyless.select(LINE, content_keys(keyless[CONTENT]).alias(DERIVED))
    frame = frame.join(derived, on=LINE, how="left", maintain_order="left")
    key = pl.coalesce(table.key, DERIVED)
    raw_hash = pl.when(pl.col(DERIVED).is_not_null()).then(pl.col(DERIVED).hash()).otherwise(pl.col(RAW))
    return frame.with_columns(key.alias(table.key), raw_hash.alias(RAW)).drop(DERIVED)
