"""What the warehouse holds: row counts, the data's date range and as-of moment, the latest loads and a load's
rejected rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import polars as pl

from metrics.kpis.formats import format_moment
from pipelines.common.plausible import earliest_moment
from pipelines.load import BatchResult
from pipelines.warehouse.schema import TABLES
from pipelines.warehouse.store import table_counts, warehouse_as_of


@dataclass(frozen=True)
class WarehouseSummary:
    counts: dict[str, int]
    first_activity: datetime | None
    last_activity: datetime | None
    last_load: datetime | None
    recent_batches: pl.DataFrame
    as_of: datetime | None = None  # the moment the data describes, every page's "now"; None when nothing is loaded

    @property
    def last_day(self) -> date | None:
        """The last day the data describes, the dates' default end: the as-of's day (midnight closes the day before).

        Not the last activity's day: an export taken at midnight after a quiet Sunday covers that
        Sunday, and ending the dates earlier would cut the latest week short.
        """
        if self.as_of is None or (self.last_activity is not None and self.last_activity >= self.as_of):
            return self.last_activity.date() if self.last_activity is not None else None
        # An as-of at midnight, after the last event, closes the day before it.
        return (self.as_of - timedelta(microseconds=1)).date()

    @property
    def default_dates(self) -> tuple[date, date] | None:
        """The dates a new session opens on: the data's recent span, from the first day of the same month a year
        before its last day (13 calendar months) to that last day; None when nothing is loaded.

        Not the whole history: one old export (a 2013 archive) would stretch every chart over a
        decade and squash the recent weeks against its right edge. Thirteen months still show a
        year against the year before and the last quarter whole; older data stays a date choice
        away (the earliest day remains selectable). Not the latest load's span either: a small
        correction file would shrink the view to a few days.
        """
        if self.first_activity is None or self.last_day is None:
            return None
        last = self.last_day
        return max(self.first_activity.date(), date(last.year - 1, last.month, 1)), last

    @property
    def is_empty(self) -> bool:
        return not any(self.counts[t] for t in ("tickets", "survey_responses", "complaints"))


def warehouse_summary(
    con: duckdb.DuckDBPyConnection, recent: int = 10, loaded_by: str | None = None
) -> WarehouseSummary:
    """Counts per table, the span of the data (UTC) and the most recent batches (only ``loaded_by``'s, if named).

    The span is that of the rows the KPIs read: not of a placeholder date an older version loaded.
    """
    span = con.sql(
        """SELECT min(t), max(t) FROM (
               SELECT created_at AS t FROM tickets
               UNION ALL SELECT responded_at FROM survey_responses
               UNION ALL SELECT created_at FROM complaints)
           WHERE t >= $earliest""",
        params={"earliest": earliest_moment()},
    ).fetchall()[0]
    last_load = con.sql("SELECT max(finished_at) FROM batches WHERE status = 'loaded'").fetchall()[0][0]
    batches = con.sql(
        f"""SELECT batch_id, file_name, kind, profile, rows_read, rows_loaded, rows_updated,
                   rows_duplicate, rows_rejected, finished_at, loaded_by, status
            FROM batches WHERE $who IS NULL OR loaded_by = $who ORDER BY batch_id DESC LIMIT {int(recent)}""",
        params={"who": loaded_by},
    ).pl()
    return WarehouseSummary(table_counts(con), span[0], span[1], last_load, batches, warehouse_as_of(con))


def rejected_rows(con: duckdb.DuckDBPyConnection, batch_id: int) -> pl.DataFrame:
    """One batch's rejected rows in file order, with why and the raw record as text."""
    return con.sql(
        "SELECT line_number, reason, column_name, raw_record::VARCHAR AS record FROM rejected_rows "
        "WHERE batch_id = ? ORDER BY line_number",
        params=[batch_id],
    ).pl()


def load_outcome(result: BatchResult) -> str:
    """What a load did, in a person's words: its counts, the moment its data describes, keys made, spellings merged."""
    line = (
        f"{result.file}: {result.rows_read:,} rows read: {result.rows_loaded:,} loaded, {result.rows_updated:,} "
        f"updated, {result.rows_duplicate:,} duplicate, {result.rows_rejected:,} rejected (batch {result.batch_id})."
    )
    if result.as_of is not None:
        line += f" Its data runs up to {format_moment(result.as_of)}."
    if result.keys_derived:
        key = TABLES[result.kind].key.replace("_", " ")
        line += (
            f" {result.keys_derived:,} row(s) had no {key}: each was given one made from its content, "
            "so loading the same file again adds nothing twice."
        )
    if result.merged_spellings:
        merged = "; ".join(f"{m.column} {m}" for m in result.merged_spellings)
        line += f" Values differing only in case or spacing were stored as one: {merged}."
    return line
