"""After a load: the crisis log is made to hold the history the load brought, scanned whole once.

Grain: one check per load and scanned grain. The usual scan, ``crises`` without ``--since``, judges
the data's last ``RECENT_DAYS``; a first load of years of history, or a backfill of older data,
would otherwise have its past crises in the log only once someone pressed "Scan now" on the Crisis
radar page (which judges all of it) or gave ``--since``. So after each load, when some day of the
data older than that recent window lies in no recorded scan window (``crisis_scans``), the whole
span is scanned once and recorded; later loads of recent data cost nothing more. It lives here,
above the crisis layer, because the load itself (``pipelines``, ``metrics.kpis.marts``) may not
know of crises.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from metrics.crises.log import unscanned_history
from metrics.crises.model import RECENT_DAYS
from metrics.kpis.settings import Settings, on_data_clock
from metrics.views.dashboard import refresh_crisis_log
from pipelines.warehouse.store import data_span, warehouse_as_of

# The grains the history is scanned at: the one the command line and the Crisis radar open on.
HISTORY_GRAINS = ("week",)


@dataclass(frozen=True)
class HistoryScan:
    """One whole-history scan a load caused: its grain, the days it covered and the crises it found."""

    grain: str
    first: date
    last: date
    found: int


def recent_since(con: duckdb.DuckDBPyConnection, settings: Settings | None = None) -> date | None:
    """The first day of the usual crisis window: ``RECENT_DAYS`` before the data's as-of (None when empty)."""
    settings = on_data_clock(con, settings)
    return None if settings.as_of_from_clock else (settings.as_of - timedelta(days=RECENT_DAYS)).date()


def history_unscanned(
    con: duckdb.DuckDBPyConnection, settings: Settings | None = None, grains: tuple[str, ...] = HISTORY_GRAINS
) -> tuple[str, ...]:
    """The grains at which some day before the recent window lies in no recorded scan; () when none.

    Asked before ``after_load`` so that a load of recent data records no scan, nor an audit row for one.
    """
    settings = on_data_clock(con, settings)
    span = data_span(con)
    recent = recent_since(con, settings)
    if span is None or recent is None or span[0].date() >= recent:
        return ()
    first, before = span[0].date(), recent - timedelta(days=1)
    return tuple(grain for grain in grains if unscanned_history(con, grain, first, before))


def after_load(
    con: duckdb.DuckDBPyConnection, settings: Settings | None = None, grains: tuple[str, ...] = HISTORY_GRAINS
) -> list[HistoryScan]:
    """Scan the whole history at each grain whose older part the crisis log never scanned; what was scanned.

    Call it after a load (the CLI's ingest, the Upload page). Nothing happens on an empty warehouse
    or when every day before the recent window already lies in some recorded scan's window.
    """
    settings = on_data_clock(con, settings)
    span, as_of = data_span(con), warehouse_as_of(con)
    if span is None or as_of is None:
        return []
    return [
        HistoryScan(grain, span[0].date(), as_of.date(), refresh_crisis_log(con, settings, grain, since=None))
        for grain in history_unscanned(con, settings, grains)
    ]
