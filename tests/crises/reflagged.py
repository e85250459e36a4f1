"""Crises of a warehouse's log flagged again in the data's latest complete week, as a scan would flag them.

Some tests need open crises on the demo, whose history (seed 3) has none flagged in its last weeks:
the radar rightly lists them all as recovered. This hands the latest ones to ``record_scan`` as
signals that continue them, so they return to the open list by the lifecycle's own path.
"""

from __future__ import annotations

import json
from datetime import timedelta

import duckdb

from metrics.crises.log import record_scan
from metrics.crises.log_rows import period_start
from metrics.crises.model import DetectedCrisis
from pipelines.warehouse.store import warehouse_as_of


def reflag(con: duckdb.DuckDBPyConnection, count: int, first: tuple[str, str] | None = None) -> list[int]:
    """Flag the latest weekly crises of ``count`` places again, ongoing; their ids, latest first.

    One crisis per place (metric, dimension, segment): the latest, the one a new flag continues.
    ``first`` (a dimension and segment) puts that segment's latest crisis among them whatever its date.
    """
    as_of = warehouse_as_of(con)
    latest_week = period_start(as_of.date(), "week") - timedelta(days=7)
    dimension, segment = first or ("", "")
    rows = con.sql(
        "SELECT * FROM crises WHERE grain = 'week' "
        "QUALIFY row_number() OVER (PARTITION BY metric, dimension, segment ORDER BY last_flagged DESC) = 1 "
        "ORDER BY (dimension = ? AND segment = ?) DESC, last_flagged DESC, crisis_id DESC LIMIT ?",
        params=[dimension, segment, count],
    ).pl()
    found = [
        DetectedCrisis(
            metric=row["metric"],
            dimension=row["dimension"],
            segment=row["segment"],
            type=row["type"],
            type_reason=row["type_reason"],
            severity=row["severity"],
            severity_reason=row["severity_reason"],
            grain="week",
            # Continues the episode: reopened, not a new crisis (an early warning may be flagged still).
            start=min(row["last_flagged"] + timedelta(days=7), latest_week),
            last_flagged=latest_week,
            ongoing=True,
            evidence=json.loads(row["evidence"] or "{}"),
            contributors=json.loads(row["contributors"] or "[]"),
            signals=json.loads(row["signals"] or "[]"),
        )
        for row in rows.iter_rows(named=True)
    ]
    record_scan(con, found, as_of, grain="week")
    return rows["crisis_id"].to_list()
