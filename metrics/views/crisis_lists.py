"""The crisis lists of the Overview and the Crisis radar: which crises a view shows, in which order.

One rule for every list (``shown_under_filters``): the view's limit, then the sidebar's filters.
The open list (``open_crisis_list``) ranks the most severe first, then the latest flagged; its
counts by severity are counted from the same rows, so a page's counts and its list agree.
Grain: one row per crisis. ``metrics.views.dashboard`` asks these for the pages.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics.crises.log import list_crises
from metrics.crises.log_rows import OPEN_STATUSES
from metrics.crises.model import SEVERITIES
from metrics.kpis.catalog import DIMENSIONS
from metrics.kpis.messages import say
from metrics.kpis.scope import View
from metrics.kpis.settings import Settings

OPEN = OPEN_STATUSES
# Crisis lists rank the most severe first: critical 0 ... observe 3.
SEVERITY_RANK = {level: rank for rank, level in enumerate(reversed(SEVERITIES))}


def shown_under_filters(log: pl.DataFrame, view: View, within_dates: bool = True) -> pl.DataFrame:
    """The crises of ``log`` (the crisis log's rows) a view shows: the one rule every crisis list follows.

    First the view's limit (a limited user's segments). Then the sidebar's filters: a crisis sits
    in one segment of one dimension, and a filter on that dimension that leaves its segment out
    hides it (a crisis of channel email is hidden when the channel filter keeps only phone). An
    organisation-wide crisis, or one of a dimension no filter narrows, stays: the filters cannot
    tell it lies outside them. With ``within_dates``, a crisis that started after the view's last
    day, or ended before its first, is hidden too; an open crisis has not ended, so only its start counts.
    """
    log = view.crises(log)
    for dimension, values in view.segments:
        log = log.filter((pl.col("dimension") != dimension) | pl.col("segment").is_in(list(values)))
    if within_dates:
        if view.date_to:
            log = log.filter(pl.col("start_period") <= view.date_to)
        if view.date_from:
            log = log.filter(pl.col("end_period").is_null() | (pl.col("end_period") >= view.date_from))
    return log


def crisis_table(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    view: View,
    status: list[str] | None = None,
    crisis_type: str | None = None,
    severity: str | None = None,
    within_dates: bool = True,
) -> pl.DataFrame:
    """The crisis log for a table: newest first, filtered by ``shown_under_filters``, with the place in words.

    ``escalated`` says whether the crisis escalated for want of an acknowledgement (a badge in lists).
    """
    log = shown_under_filters(list_crises(con, status=status, type=crisis_type, severity=severity), view, within_dates)
    return _table_rows(log, view.language)


def open_crisis_list(con: duckdb.DuckDBPyConnection, settings: Settings, view: View) -> pl.DataFrame:
    """Every open crisis the view shows (``shown_under_filters``), most severe first, then latest flagged first.

    The Overview lists these rows and counts them by severity (``open_crises_by_severity``), so the
    counts and the list always agree; the Crisis radar opens on the first row.
    """
    log = shown_under_filters(list_crises(con, open_only=True), view)
    ranked = log.with_columns(pl.col("severity").replace_strict(SEVERITY_RANK, return_dtype=pl.Int8).alias("rank"))
    return _table_rows(
        ranked.sort(["rank", "last_flagged", "crisis_id"], descending=[False, True, True]), view.language
    )


def _table_rows(log: pl.DataFrame, lang: str = "en") -> pl.DataFrame:
    # "where" is read, not filtered on: its dimension is a word of the chosen language, its segment the data's own.
    words = {d: say(d, lang) for d in (*DIMENSIONS, "overall")}
    dimension = pl.col("dimension").replace(words)
    return log.select(
        pl.col("crisis_id").alias("id"),
        "severity",
        pl.col("escalated_at").is_not_null().alias("escalated"),
        "type",
        (dimension + " " + pl.col("segment")).alias("where"),
        "metric",
        pl.col("start_period").alias("start"),
        pl.col("last_flagged").alias("last flagged"),
        pl.col("end_period").alias("end"),
        "status",
        "owner",
        "grain",
    )


def open_crises_by_severity(con: duckdb.DuckDBPyConnection, settings: Settings, view: View) -> dict[str, int]:
    """How many crises ``open_crisis_list`` lists at each severity, most severe first."""
    listed = open_crisis_list(con, settings, view)
    counts = dict(listed.group_by("severity").len().iter_rows()) if not listed.is_empty() else {}
    return {level: int(counts.get(level, 0)) for level in SEVERITY_RANK}


def most_severe_open(log: pl.DataFrame) -> int | None:
    """The id of the most severe open crisis of a ``crisis_table`` (latest flagged first among equals), else None."""
    open_rows = log.filter(pl.col("status").is_in(list(OPEN_STATUSES)))
    if open_rows.is_empty():
        return None
    ranked = open_rows.with_columns(pl.col("severity").replace_strict(SEVERITY_RANK, return_dtype=pl.Int8).alias("r"))
    return int(ranked.sort(["r", "last flagged", "id"], descending=[False, True, True])["id"][0])
