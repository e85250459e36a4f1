"""One spelling per segment: values of a segment column that differ only in case or spacing are one value.

"Web", "web" and "WEB" are one channel, "Billing  Team" and "billing team" one team; "e-mail"
and "email" stay two (a spelling, not a case). Grain: a staged frame in, the same frame out
with its segment columns respelled, plus ``Spellings`` (one row per column and folded value:
the spelling it is stored in) and the respelled values (one row per column and spelling
changed, with its canonical spelling and rows).

The canonical spelling must not flip from one load to the next, or one segment would become
two: the spelling the warehouse already holds wins (its most frequent, if it holds several),
else the one most frequent in the file, ties broken by sort order. A file staged in parts
takes each value's spelling from the first part that has it, and keeps it for the rest.
"""

from __future__ import annotations

import duckdb
import polars as pl

from pipelines.warehouse.schema import SEGMENT_COLUMNS, TABLES

SPELLINGS_SCHEMA = {"column": pl.String, "folded": pl.String, "canonical": pl.String}
RESPELLED_SCHEMA = {"column": pl.String, "spelling": pl.String, "canonical": pl.String, "rows": pl.Int64}


def spaced(values: pl.Expr) -> pl.Expr:
    """A value with its runs of white space as one space: the tidiest of its spellings."""
    return values.str.replace_all(r"\s+", " ").str.strip_chars()


def folded(values: pl.Expr) -> pl.Expr:
    """What a value is once case and spacing no longer count."""
    return spaced(values).str.to_lowercase()


def as_written(column: str) -> str:
    """The attribute that keeps a row's own spelling of ``column`` when it was respelled."""
    return f"{column} (as written)"


def no_spellings() -> pl.DataFrame:
    return pl.DataFrame(schema=SPELLINGS_SCHEMA)


def held_spellings(con: duckdb.DuckDBPyConnection, kind: str) -> pl.DataFrame:
    """The spelling the warehouse holds for each folded value of the segment columns of ``kind``, across its tables.

    A complaint's channel is the same segment as a ticket's, so every table holding the column
    counts. Where it holds several spellings (loaded before values were folded), the most
    frequent, then the first in sort order.
    """
    wanted = [c for c in SEGMENT_COLUMNS if c in TABLES[kind].column_names]
    if not wanted:
        return no_spellings()  # survey answers take their segments from their tickets
    parts = [
        f"SELECT '{column}' AS \"column\", {column} AS spelling, count(*) AS rows FROM {table.name} "
        f"WHERE {column} IS NOT NULL GROUP BY ALL"
        for table in TABLES.values()
        for column in wanted
        if column in table.column_names
    ]
    every = " UNION ALL ".join(parts)
    counted = con.sql(f'SELECT "column", spelling, sum(rows)::BIGINT AS rows FROM ({every}) GROUP BY ALL').pl()
    return chosen(counted)


def chosen(counted: pl.DataFrame) -> pl.DataFrame:
    """Per column and folded value, its most frequent spelling (``column``, ``spelling``, ``rows``), ties by sort.

    Spellings apart only in their spacing count as one, written with single spaces.
    """
    return (
        counted.with_columns(spaced(pl.col("spelling")).alias("spelling"))
        .group_by("column", "spelling")
        .agg(pl.col("rows").sum())
        .with_columns(folded(pl.col("spelling")).alias("folded"))
        .sort(["column", "folded", "rows", "spelling"], descending=[False, False, True, False])
        .group_by("column", "folded", maintain_order=True)
        .first()
        .select("column", "folded", pl.col("spelling").alias("canonical"))
    )


def respell(frame: pl.DataFrame, known: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The frame with one spelling per folded value in each segment column, its own kept in ``attributes``.

    ``known`` are the spellings already decided (the warehouse's, an earlier part's); values it
    lacks take the part's most frequent spelling. Returns the frame, the spellings known after
    it, and the respelled values with their rows.
    """
    columns = [c for c in SEGMENT_COLUMNS if c in frame.columns and frame.schema[c] == pl.String]
    if not columns or frame.is_empty():
        return frame, known, pl.DataFrame(schema=RESPELLED_SCHEMA)
    counted = (
        frame.select(columns)
        .unpivot(variable_name="column", value_name="spelling")
        .drop_nulls("spelling")
        .group_by("column", "spelling")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
    )
    new = chosen(counted).join(known, on=["column", "folded"], how="anti")
    spellings = pl.concat([known, new]).sort("column", "folded")
    respelled = (
        counted.with_columns(folded(pl.col("spelling")).alias("folded"))
        .join(spellings, on=["column", "folded"])
        .filter(pl.col("spelling") != pl.col("canonical"))
        .select(list(RESPELLED_SCHEMA))
        .sort("column", "canonical", "spelling")
    )
    if respelled.is_empty():
        return frame, spellings, respelled
    changed = {c: respelled.filter(pl.col("column") == c) for c in columns}
    changed = {c: variants for c, variants in changed.items() if variants.height}
    respelt = [pl.col(c).replace(variants["spelling"], variants["canonical"]) for c, variants in changed.items()]
    return frame.with_columns(own_spellings(changed).alias("attributes"), *respelt), spellings, respelled


def own_spellings(changed: dict[str, pl.DataFrame]) -> pl.Expr:
    """``attributes`` with each respelled value's own spelling added ("channel (as written)": "web").

    ``changed`` holds each column's respelled values. The JSON pieces come from Polars' own
    encoder, so quotes and backslashes in a value are escaped as in the rest of the object.
    """
    pieces = [
        pl.when(pl.col(c).is_in(variants["spelling"].implode())).then(
            pl.struct(pl.col(c).alias(as_written(c))).struct.json_encode().str.slice(1).str.strip_suffix("}")
        )
        for c, variants in changed.items()
    ]
    written = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    attributes = pl.col("attributes")
    return (
        pl.when(written.is_null() | (written == ""))
        .then(attributes)
        .when(attributes.is_null() | (attributes == "{}"))
        .then(pl.concat_str(pl.lit("{"), written, pl.lit("}")))
        .otherwise(pl.concat_str(attributes.str.strip_suffix("}"), pl.lit(","), written, pl.lit("}")))
    )
