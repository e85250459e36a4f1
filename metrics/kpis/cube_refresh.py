"""Keeping the marts current after a load or an undo by recomputing only what its rows can change.

A batch writes rows (new ones, and new versions of old ones: ``batch_id`` is the batch) and
moves the versions it replaced to ``*_history`` (``replaced_by`` is the batch); undoing it moves
the same rows back. So a load and its undo touch the same rows, and the cube's rows that can
change are those of the local days these rows are dated in, plus the days of the rows that read
them (each rule below is one way a metric's source row reads another row):

- a survey or complaint borrows its ticket's dimensions: the surveys and complaints of a touched ticket;
- a ticket marked as a complaint counts as one unless a complaint is on file for it: the
  tickets of touched complaints;
- the "repeat contact" first-contact-resolution rule reads the customer's next ticket: the
  ticket just before each touched one, per customer;
- an export counts as filling a column when any of its rows fills it (``export_fills``, the
  complaint evidence): every row of an export whose last such row was replaced;
- "waiting longer than the target" reads the data's as-of: the days from the longest target
  before the earlier as-of to the later one.

Histograms are recomputed for the weeks of those days; backlog ages for the period ends inside
the open span of any touched ticket (either version) and between the two as-ofs. A metric whose
SQL reads the as-of in any other way, a cube built for other conventions or metrics, or batches
that changed without this module seeing them (an undo elsewhere) get the full rebuild instead.
``tests/kpis/test_cube_refresh.py`` holds the result equal to a full rebuild on random loads and undos.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from metrics.kpis.catalog import inputs
from metrics.kpis.cube import (
    build_cube,
    conventions_key,
    cube_metrics,
    histogram_metrics,
    insert_backlog_ages,
    insert_daily,
    insert_histograms,
    literal,
    write_meta,
)
from metrics.kpis.settings import Settings, on_data_clock, settings_for
from metrics.kpis.sql import declare_macros
from pipelines.warehouse.schema import TABLES
from pipelines.warehouse.store import transaction

# Below this many tickets the raw tables answer in well under a second: no cube to keep up.
CUBE_MIN_TICKETS = 100_000
# Touched days closer than this are refreshed as one range: a range costs a scan of each source
# (skipping row groups outside it), so many small ranges cost more than a few days too many.
MERGE_GAP_DAYS = 14
MAX_RANGES = 6
MOMENTS, SPANS = "cube_touched_moments", "cube_touched_spans"


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: ``full`` rebuild, or the local days it recomputed (empty: nothing changed)."""

    full: bool
    days: tuple[date, ...] = ()


def refresh_cube(con: duckdb.DuckDBPyConnection, undone: int | None = None) -> Refreshed | None:
    """After a load or an undo (``undone``, already captured by ``capture_undo``): bring the marts up to date.

    None when the warehouse is too small to keep a cube (its meta is dropped, the raw tables answer).
    """
    if con.sql("SELECT count(*) FROM tickets").fetchall()[0][0] < CUBE_MIN_TICKETS:
        con.execute("DELETE FROM kpi_cube_meta")
        _drop_touched(con)
        return None
    settings = on_data_clock(con, settings_for(con))
    batches = _pending_batches(con, settings, undone)
    if batches is None:
        _drop_touched(con)
        build_cube(con, settings)
        return Refreshed(full=True)
    collect_touched(con, batches, settings)
    declare_macros(con, settings.conventions)
    try:
        with transaction(con):
            days = _refresh_touched(con, settings)
            write_meta(con, settings, expected_names(settings))
    finally:
        _drop_touched(con)
    return Refreshed(full=False, days=days)


def capture_undo(con: duckdb.DuckDBPyConnection, batch_id: int) -> None:
    """Before undoing ``batch_id``: note the rows it touches while they are still there to read."""
    _drop_touched(con)
    collect_touched(con, [batch_id], settings_for(con))


def expected_names(settings: Settings) -> list[str]:
    """The metrics a complete cube answers for, as its meta lists them."""
    return [m.name for m in cube_metrics(settings) + histogram_metrics()] + ["backlog_age"]


def _pending_batches(con: duckdb.DuckDBPyConnection, settings: Settings, undone: int | None) -> list[int] | None:
    """The batches loaded since the cube was built, when nothing else changed; None when it must be rebuilt."""
    found = con.sql("SELECT conventions_key, data_version, built_as_of, metrics FROM kpi_cube_meta").fetchall()
    if len(found) != 1 or as_of_reach(settings) is None:
        return None
    key, version, _, names = found[0]
    if key != conventions_key(settings) or names.split(",") != expected_names(settings):
        return None
    count, last_id, not_loaded = (int(v) for v in version.split(":"))
    new = con.execute("SELECT batch_id, status FROM batches WHERE batch_id > ?", [last_id]).fetchall()
    now = con.sql(
        "SELECT count(*), count(*) FILTER (WHERE status <> 'loaded') FROM batches"
    ).fetchall()[0]  # fmt: skip
    undo = 0 if undone is None else 1
    captured = f"SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = '{SPANS}'"
    if undone is not None and not con.sql(captured).fetchall():
        return None  # the undo was not captured
    if now != (count + len(new), not_loaded + undo + sum(status != "loaded" for _, status in new)):
        return None
    return [batch for batch, status in new if status == "loaded"]


def as_of_reach(settings: Settings) -> timedelta | None:
    """How far before the as-of a row's place in the cube can depend on it; None when the catalog reads it otherwise.

    The cube's metrics read ``{as_of}`` only as "waiting longer than a target" (``{as_of} >
    created_at + INTERVAL ({target}) UNIT``): a row can change only while its wait crosses the target.
    """
    values = {
        "first_response_sla_minutes": float(settings.conventions.first_response_sla_minutes),
        "complaint_sla_hours": float(settings.conventions.complaint_sla_hours),
    }
    units = {"MINUTE": timedelta(minutes=1), "HOUR": timedelta(hours=1), "DAY": timedelta(days=1)}
    pattern = re.compile(r"\{as_of\} > \w+ \+ INTERVAL \(\{(\w+)\}\) (MINUTE|HOUR|DAY)")
    reach = timedelta(0)
    for m in [*cube_metrics(settings), *histogram_metrics()]:
        for text in map(str, m.fields.values()):
            found = pattern.findall(text)
            if text.count("{as_of}") != len(found) or any(name not in values for name, _ in found):
                return None
            reach = max([reach, *(values[name] * units[unit] for name, unit in found)])
    return reach + timedelta(days=1)


def collect_touched(con: duckdb.DuckDBPyConnection, batches: Iterable[int], settings: Settings) -> None:
    """Append to the temp tables the moments of every row ``batches`` touch or that reads one (see the module doc)."""
    ids = ", ".join(str(int(b)) for b in batches) or "NULL"
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {MOMENTS} (moment TIMESTAMPTZ)")
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {SPANS} (created_at TIMESTAMPTZ, closed_at TIMESTAMPTZ)")
    for table in TABLES.values():
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE touched_{table.name} AS
                SELECT * FROM {table.name} WHERE batch_id IN ({ids})
                UNION ALL BY NAME
                SELECT * EXCLUDE (replaced_by) FROM {table.name}_history WHERE replaced_by IN ({ids})"""
        )
    related = {
        "tickets": [
            "SELECT * FROM touched_tickets",
            "SELECT * FROM tickets WHERE ticket_id IN (SELECT ticket_id FROM touched_complaints)",
        ]
        + (
            [_ticket_before_sql(ids, settings.conventions.fcr_repeat_days)]
            if settings.conventions.fcr == "no_repeat"
            else []
        ),
        "survey_responses": [
            "SELECT * FROM touched_survey_responses",
            "SELECT * FROM survey_responses WHERE ticket_id IN (SELECT ticket_id FROM touched_tickets)",
        ],
        "complaints": [
            "SELECT * FROM touched_complaints",
            "SELECT * FROM complaints WHERE ticket_id IN (SELECT ticket_id FROM touched_tickets)",
        ],
        "order_counts": ["SELECT * FROM touched_order_counts"],
    }
    lost = ", ".join(str(b) for b in _batches_losing_a_filled_column(con, ids))
    for table in related if lost else ():
        related[table].append(f"SELECT * FROM {table} WHERE batch_id IN ({lost})")
    for table, selects in related.items():
        moments = ", ".join(_time_columns(con, table))
        rows = " UNION ALL BY NAME ".join(f"({s})" for s in selects)
        con.execute(f"INSERT INTO {MOMENTS} SELECT unnest([{moments}]) AS moment FROM ({rows})")
    con.execute(f"INSERT INTO {SPANS} SELECT created_at, coalesce(resolved_at, closed_at) FROM touched_tickets")
    for table in TABLES.values():
        con.execute(f"DROP TABLE IF EXISTS touched_{table.name}")


def _ticket_before_sql(ids: str, repeat_days: int) -> str:
    """Per touched ticket (either version), the customer's untouched tickets created last at or before it.

    The repeat-contact rule reads whether a ticket's next ticket came within ``repeat_days``; only
    these can have another next ticket now, and only if it comes within those days either way.
    """
    return f"""SELECT t.* FROM tickets t JOIN touched_tickets p
                 ON t.customer_id = p.customer_id AND t.created_at <= p.created_at
                AND t.created_at >= p.created_at - INTERVAL ({int(repeat_days)}) DAY
               WHERE t.batch_id NOT IN ({ids})
               QUALIFY t.created_at = max(t.created_at) OVER (PARTITION BY p.customer_id, p.created_at)"""


def _batches_losing_a_filled_column(con: duckdb.DuckDBPyConnection, ids: str) -> list[int]:
    """Earlier exports that filled a column (or said which tickets are complaints) only in rows now replaced.

    Whether an export fills a column is decided per export (``export_fills``, the complaint
    evidence), so every row of such an export can change; with the replaced row back (an undo)
    it changes again.
    """
    pairs = {("tickets", "is_complaint")} | {(t, i.column) for i in inputs().values() if i.column for t in i.tables}
    lost: set[int] = set()
    for table, column in sorted(pairs):
        replaced = con.sql(
            f"""SELECT DISTINCT batch_id FROM {table}_history
                WHERE replaced_by IN ({ids}) AND {column} IS NOT NULL AND batch_id NOT IN ({ids})"""
        ).fetchall()
        # One query per earlier export (a handful), each stopping at its first row that still
        # fills the column: the usual answer, found at once, where a join would read every row.
        for (batch,) in replaced:
            still = f"SELECT 1 FROM {table} WHERE batch_id = {int(batch)} AND {column} IS NOT NULL LIMIT 1"
            if not con.sql(still).fetchall():
                lost.add(batch)
    return sorted(lost)


def _time_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(
        """SELECT column_name FROM duckdb_columns()
           WHERE table_name = ? AND data_type = 'TIMESTAMP WITH TIME ZONE' AND NOT internal
           ORDER BY column_index""",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def _refresh_touched(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[date, ...]:
    """Recompute the cube's days, histogram weeks and backlog-age ends the touched moments reach."""
    zone = literal(settings.conventions.report_time_zone)
    built = con.sql("SELECT built_as_of FROM kpi_cube_meta").fetchall()[0][0]
    reach = as_of_reach(settings) or timedelta(0)
    earlier, later = sorted([built, settings.as_of])
    window = f"""SELECT unnest(generate_series(
                     (TIMESTAMPTZ {literal((earlier - reach).isoformat())} AT TIME ZONE {zone})::DATE,
                     (TIMESTAMPTZ {literal(later.isoformat())} AT TIME ZONE {zone})::DATE, INTERVAL 1 DAY))::DATE"""
    days = [
        r[0]
        for r in con.sql(
            f"""SELECT DISTINCT day FROM (
                    SELECT (moment AT TIME ZONE {zone})::DATE AS day FROM {MOMENTS}
                    WHERE moment IS NOT NULL AND moment >= {_earliest(settings)}
                    UNION ALL {window}) ORDER BY day"""
        ).fetchall()
    ]
    for first, last in ranges(days):
        insert_daily(con, settings, first, last)
    mondays = sorted({d - timedelta(days=d.weekday()) for d in days})
    for first, last in ranges(mondays, step=7):
        insert_histograms(con, settings, histogram_metrics(), (first, last))
    _touched_ends(con, settings, earlier, later)
    insert_backlog_ages(con, settings, "cube_touched_ends")
    con.execute("DROP TABLE IF EXISTS cube_touched_ends")
    return tuple(days)


def _earliest(settings: Settings) -> str:
    return f"TIMESTAMPTZ {literal(settings.earliest.isoformat())}"


def _touched_ends(con: duckdb.DuckDBPyConnection, settings: Settings, earlier, later) -> None:
    """The period ends (Sundays, month ends) whose backlog can differ: inside a touched ticket's open span
    (as either version was open, up to the later as-of) or between the two as-ofs."""
    zone = literal(settings.conventions.report_time_zone)

    def local(moment) -> str:
        return f"(TIMESTAMPTZ {literal(moment.isoformat())} AT TIME ZONE {zone})::DATE"

    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE cube_touched_ends AS
            SELECT DISTINCT day FROM (
                SELECT unnest(generate_series(first_day, last_day, INTERVAL 1 DAY))::DATE AS day
                FROM (SELECT (created_at AT TIME ZONE {zone})::DATE AS first_day,
                             least(coalesce((closed_at AT TIME ZONE {zone})::DATE, {local(later)}), {local(later)})
                             AS last_day
                      FROM {SPANS} WHERE created_at >= {_earliest(settings)})
                WHERE last_day >= first_day
                UNION ALL
                SELECT unnest(generate_series({local(earlier)} - 1, {local(later)}, INTERVAL 1 DAY))::DATE)
            WHERE isodow(day) = 7 OR day = last_day(day)"""
    )


def ranges(days: list[date], step: int = 1) -> list[tuple[date, date]]:
    """Sorted days as few ranges: runs closer than MERGE_GAP_DAYS joined, then the nearest until MAX_RANGES."""
    if not days:
        return []
    runs = [[days[0], days[0]]]
    for day in days[1:]:
        if (day - runs[-1][1]).days <= max(MERGE_GAP_DAYS, step):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    while len(runs) > MAX_RANGES:
        i = min(range(len(runs) - 1), key=lambda k: runs[k + 1][0] - runs[k][1])
        runs[i : i + 2] = [[runs[i][0], runs[i + 1][1]]]
    return [(first, last) for first, last in runs]


def _drop_touched(con: duckdb.DuckDBPyConnection) -> None:
    for table in (MOMENTS, SPANS, "cube_touched_ends"):
        con.execute(f"DROP TABLE IF EXISTS {table}")
