"""What the dashboard pages show, as frames: pages only lay these out, they compute nothing themselves.

Every function takes a ``View`` (the global filters of the sidebar) so each page honours the
same date range and segments, and reads metrics from the catalog through ``compute``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import duckdb
import polars as pl

from metrics.crises.flag import judged_series
from metrics.crises.lifecycle import acknowledge_allowances
from metrics.crises.log import get_crisis, record_scan
from metrics.crises.log_rows import CrisisLogError
from metrics.crises.radar import scan
from metrics.crises.rules import rules
from metrics.kpis.catalog import FILTER_DIMENSIONS, SERVICE_LEVEL_DIMENSIONS, SPLIT_DIMENSIONS, Metric, metric
from metrics.kpis.compute import RANGE, STATUSES, Query, compute, records, records_sql, weekly_trend, with_changes
from metrics.kpis.cube import data_version
from metrics.kpis.dimensions import recorded_dimensions, segments_that_exist
from metrics.kpis.formats import format_change, format_interval, format_target, format_value
from metrics.kpis.messages import method_text, say
from metrics.kpis.periods import coverage, first_day
from metrics.kpis.scope import View
from metrics.kpis.settings import Settings, load_settings, on_data_clock
from metrics.notify.outbox import NotifyRun
from metrics.reports.review import quarter_covered, quarterly_review
from metrics.views.crisis_lists import OPEN, crisis_table, open_crises_by_severity, open_crisis_list
from metrics.views.what_changed import WhatChanged
from metrics.views.what_changed import what_changed as change_paragraph
from pipelines.common.plausible import earliest_moment
from pipelines.warehouse.store import data_span, table_counts

# The manager's five headline KPIs, in the order the tiles show them.
HEADLINE = ("csat", "complaint_rate", "first_response_sla", "complaint_resolution_sla", "ticket_volume")
SERVICE_METRICS = (
    "first_response_median",
    "first_response_p90",
    "first_response_sla",
    "resolution_median",
    "resolution_p90",
    "complaint_resolution_sla",
)
# Duration buckets for the distribution charts, in minutes (upper bounds), with their labels.
DURATION_BUCKETS = (
    (15, "< 15 min"),
    (60, "15-60 min"),
    (240, "1-4 h"),
    (480, "4-8 h"),
    (1440, "8-24 h"),
    (4320, "1-3 days"),
    (None, "> 3 days"),
)
SPARKLINE_PERIODS = 12


@dataclass(frozen=True)
class Tile:
    """One headline KPI in its latest complete period, against target, with its recent history."""

    metric: str
    label: str
    period_start: date | None
    value: float | None
    value_text: str
    interval_text: str
    target_text: str
    status: str
    status_text: str
    change_text: str
    change_significant: bool | None
    higher_is_better: bool
    sparkline: pl.DataFrame = field(repr=False)
    reason: str = ""  # why there is no number: the column that would give it


def filter_options(con: duckdb.DuckDBPyConnection, settings: Settings, view: View) -> dict[str, list[str]]:
    """The values each filter dimension takes in the warehouse, sorted, within the view's limit.

    A limited user is offered, in the other dimensions too, only values found within their
    segments: the organisation's other products or regions are not theirs to list.
    """
    limited = [(d, list(values)) for d, values in view.limit if d in FILTER_DIMENSIONS]
    within = "".join(f" AND list_contains(?, {d})" for d, _ in limited)
    options = {}
    for dimension in FILTER_DIMENSIONS:
        rows = con.sql(
            f"SELECT DISTINCT {dimension} FROM tickets WHERE {dimension} IS NOT NULL{within}",
            params=[values for _, values in limited],
        ).fetchall()
        options[dimension] = sorted(str(r[0]) for r in rows)
    return view.offered(options)


def split_dimensions(
    con: duckdb.DuckDBPyConnection, settings: Settings, view: View, dimensions: tuple[str, ...] = SPLIT_DIMENSIONS
) -> tuple[str, ...]:
    """The ``dimensions`` a page may split by: those the data records, so no split is one "(none)" line."""
    return recorded_dimensions(con, dimensions)


def headline_tiles(con: duckdb.DuckDBPyConnection, settings: Settings, view: View, grain: str = "week") -> list[Tile]:
    """A tile per headline KPI: the latest complete period, its interval, target, status and change.

    The change is on the previous period; ``change_significant`` says whether it is more than noise.
    """
    results = with_changes(compute(con, view.query(HEADLINE, grain), settings).filter(pl.col("complete")))
    tiles = []
    for name in HEADLINE:
        m = metric(name)
        series = results.filter(pl.col("metric") == name).sort("period_start")
        higher_is_better = m.direction != "lower"
        target = settings.target_for(name)
        lang = view.language
        # No target reads "no target set" on the page, not "Target no target".
        target_text = "" if target is None else format_target(target.bound, target.value, m.format)
        if series.is_empty():
            tiles.append(
                Tile(name, view.label(name), None, None, "–", "", target_text, "no_data", STATUSES["no_data"], "",
                     None, higher_is_better, series.select("period_start", "value"), no_data_reason(m, None))
            )  # fmt: skip
            continue
        latest = series.row(-1, named=True)
        interval = format_interval(latest["ci_low"], latest["ci_high"], m.format)
        counted = f"n = {latest['n']:,}" if latest["n"] is not None else ""
        interval = f"{say('95% interval', lang)} {interval}" if interval else counted
        # No change (the first period) shows no arrow at all rather than a dash.
        change_text = "" if latest["change"] is None else format_change(latest["change"], m.format)
        tiles.append(
            Tile(
                metric=name,
                label=view.label(name),
                period_start=latest["period_start"],
                value=latest["value"],
                value_text=format_value(latest["value"], m.format),
                interval_text=interval,
                target_text=target_text,
                status=latest["status"],
                status_text=STATUSES[latest["status"]],
                change_text=change_text,
                change_significant=latest["change_significant"],
                higher_is_better=higher_is_better,
                sparkline=series.tail(SPARKLINE_PERIODS).select("period_start", "value"),
                reason=no_data_reason(m, latest),
            )
        )
    return tiles


def what_changed(con: duckdb.DuckDBPyConnection, settings: Settings, view: View) -> WhatChanged:
    """The Overview's "what changed" paragraph for the headline KPIs (``metrics.views.what_changed``)."""
    return change_paragraph(con, settings, view, HEADLINE)


def latest_complete_period(
    con: duckdb.DuckDBPyConnection, settings: Settings, view: View, grain: str = "week"
) -> date | None:
    """The first day of the latest period wholly within the view's dates and the data; None when none is.

    The tiles show only such periods: with dates cut mid-week no week may be whole, and then the
    Overview says so instead of showing a partial week's numbers.
    """
    whole = coverage(con, on_data_clock(con, settings), view.date_from, view.date_to)
    return whole.latest_complete(grain)


def incomplete_stretches(series: pl.DataFrame) -> pl.DataFrame:
    """The runs of incomplete periods of a KPI series (``start``, ``end``, end exclusive), oldest first.

    A series cut short at both ends (data or dates starting mid-period, a period in progress) has
    two, and a chart greys each of them rather than everything between.
    """
    periods = series.group_by("period_start").agg(pl.col("period_end").max(), pl.col("complete").all())
    runs = periods.sort("period_start").with_columns(pl.col("complete").rle_id().alias("run"))
    return (
        runs.filter(~pl.col("complete"))
        .group_by("run")
        .agg(pl.col("period_start").min().alias("start"), pl.col("period_end").max().alias("end"))
        .sort("start")
        .select("start", "end")
    )


def no_data_reason(m: Metric, record: dict | None) -> str:
    """Why a KPI shows no number: its record's reason, or with no record at all, the first input it needs."""
    if record is None:
        return m.requires[0].missing
    return (record["reason"] or "") if record["value"] is None else ""


def kpi_series(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    view: View,
    name: str,
    grain: str = "week",
    dimension: str | None = None,
) -> pl.DataFrame:
    """One KPI over time (one line per segment when split), with interval, target and p-chart limits.

    Limits are three binomial sigmas around the centre line of each segment's complete periods,
    for proportions only; other kinds get null limits. Only complete periods are flagged outside them.
    """
    frame = compute(con, view.query((name,), grain, dimension), settings).sort("segment", "period_start")
    if frame.is_empty():
        return frame
    m = metric(name)
    if m.kind == "proportion":
        centre = (
            pl.col("numerator").filter(pl.col("complete")).sum()
            / pl.col("denominator").filter(pl.col("complete")).sum()
        ).over("segment")
        sigma = (pl.col("centre") * (1 - pl.col("centre")) / pl.col("denominator")).sqrt()
        frame = frame.with_columns(centre.alias("centre")).with_columns(
            (pl.col("centre") + 3 * sigma).clip(None, 1).alias("ucl"),
            (pl.col("centre") - 3 * sigma).clip(0, None).alias("lcl"),
        )
    else:
        frame = frame.with_columns(
            pl.lit(None, pl.Float64).alias("centre"),
            pl.lit(None, pl.Float64).alias("ucl"),
            pl.lit(None, pl.Float64).alias("lcl"),
        )
    # A period cut short is drawn, never flagged: two days' share is no signal.
    return frame.with_columns(
        (pl.col("value") > pl.col("ucl")).fill_null(False).and_(pl.col("complete")).alias("above_limit"),
        (pl.col("value") < pl.col("lcl")).fill_null(False).and_(pl.col("complete")).alias("below_limit"),
    )


def crisis_chart(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    view: View,
    name: str,
    dimension: str,
    segment: str,
    grain: str,
) -> tuple[pl.DataFrame, str]:
    """A crisis's metric in its segment with the radar's own centre line, limit and flags, from the view's start.

    The radar judges on the whole history (its baselines reach back half a year), so the series
    is judged first and cut to the view after. Returns the frame and the chart method in words.
    """
    frame, method = judged_series(con, settings, name, dimension, segment, grain)
    if view.date_from is not None and not frame.is_empty():
        frame = frame.filter(pl.col("period_start") >= view.date_from)
    return frame, method_text(method, view.language)


def duration_distribution(
    con: duckdb.DuckDBPyConnection, settings: Settings, view: View, stage: str = "first_response"
) -> pl.DataFrame:
    """Tickets per duration bucket for one stage (first_response or resolution), with each bucket's share."""
    if stage not in ("first_response", "resolution"):
        raise ValueError(f"unknown stage {stage!r}; use first_response or resolution")
    end = "first_response_at" if stage == "first_response" else "resolved_at"
    tickets = records_sql("tickets", view.query(("ticket_volume",), RANGE), on_data_clock(con, settings))
    cases = " ".join(
        f"WHEN minutes < {upper} THEN {position}" for position, (upper, _) in enumerate(DURATION_BUCKETS) if upper
    )
    counted = con.sql(
        f"""SELECT CASE {cases} ELSE {len(DURATION_BUCKETS) - 1} END AS position, count(*) AS tickets
            FROM (SELECT (epoch({end}) - epoch(created_at)) / 60.0 AS minutes FROM ({tickets}) WHERE {end} IS NOT NULL)
            GROUP BY ALL"""
    ).pl()
    total = max(int(counted["tickets"].sum()), 1)
    labels = pl.DataFrame(
        {"position": list(range(len(DURATION_BUCKETS))), "bucket": [label for _, label in DURATION_BUCKETS]},
        schema={"position": pl.Int32, "bucket": pl.String},
    )
    return (
        labels.join(counted.with_columns(pl.col("position").cast(pl.Int32)), on="position", how="left")
        .with_columns(pl.col("tickets").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("tickets") / total).alias("share"))
        .sort("position")
    )


def by_segment(
    con: duckdb.DuckDBPyConnection, settings: Settings, view: View, metrics: tuple[str, ...], dimension: str
) -> pl.DataFrame:
    """The metrics over the whole selected range, one row per segment of ``dimension``, as numbers by KPI label."""
    # A dimension nobody recorded has no rows, not one row "(none)" repeating the organisation.
    results = segments_that_exist(compute(con, view.query(metrics, RANGE, dimension), settings), "n")
    if results.is_empty():
        return pl.DataFrame({dimension: []}, schema={dimension: pl.String})
    wide = results.select("segment", "metric", "value").pivot(on="metric", index="segment", values="value")
    volume = results.group_by("segment").agg(pl.col("n").max().alias("n"))
    table = wide.join(volume, on="segment").sort("n", descending=True)
    # Numbers, named by the KPI's label: the table shows each column in its KPI's format, a duration
    # column in one unit (metrics.kpis.presentation), and the download keeps the numbers.
    formatted = [
        (pl.col(name).round(0).cast(pl.Int64) if metric(name).format == "count" else pl.col(name)).alias(
            view.label(name)
        )
        for name in metrics
        if name in table.columns
    ]
    return table.select(pl.col("segment").alias(dimension), *formatted, pl.col("n").alias("records"))


def backlog_now(con: duckdb.DuckDBPyConnection, settings: Settings, view: View) -> dict:
    """Open tickets and the median age of the open ones at the end of the latest week of the data."""
    settings = on_data_clock(con, settings)
    end = min(view.date_to or settings.as_of.date(), settings.as_of.date())
    latest_week = end - timedelta(days=end.weekday())
    frame = compute(
        con, Query(("backlog", "backlog_age"), "week", None, latest_week, view.date_to, view.segments), settings
    )
    latest = frame.sort("period_start").group_by("metric").agg(pl.all().last())
    values = {row["metric"]: row for row in latest.iter_rows(named=True)}
    backlog, age = values.get("backlog"), values.get("backlog_age")
    known = backlog is not None and backlog["value"] is not None
    return {
        # None when no ticket is known to be closed: not "0 open" (nor all of them).
        "open_tickets": int(backlog["value"]) if known else None if backlog else 0,
        "median_age_text": format_value(age["value"], "minutes") if age else "–",
        "as_of": backlog["period_end"] if backlog else None,
        "reason": no_data_reason(metric("backlog"), backlog) if backlog else "",
    }


def complaint_pareto(con: duckdb.DuckDBPyConnection, settings: Settings, view: View, top: int = 15) -> pl.DataFrame:
    """Complaint causes (category) by count, largest first, with the cumulative share of all complaints."""
    results = compute(con, view.query(("complaint_volume",), RANGE, "category"), settings)
    if results.is_empty():
        return pl.DataFrame(
            schema={"cause": pl.String, "complaints": pl.Int64, "share": pl.Float64, "cumulative_share": pl.Float64}
        )
    counted = results.select(pl.col("segment").alias("cause"), pl.col("value").cast(pl.Int64).alias("complaints"))
    total = counted["complaints"].sum()
    return (
        counted.sort(["complaints", "cause"], descending=[True, False])
        .with_columns((pl.col("complaints") / total).alias("share"))
        .with_columns(pl.col("share").cum_sum().alias("cumulative_share"))
        .head(top)
    )


def refresh_crisis_log(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    grain: str = "week",
    since: date | None = None,
    view: View | None = None,
    notify: NotifyRun | None = None,
) -> int:
    """Scan for crises and record them in the log (extending open ones); returns how many the scan found.

    The scan covers the whole organisation (the log is shared); the count returned is of the
    crises ``view`` may show, so a limited user is not told how many lie outside their segments.
    With ``notify`` the events the scan recorded are then told to its destinations (what went out
    is in ``notify.deliveries``): the same scan for the page's "Scan now" and ``crises --notify``.
    """
    settings = on_data_clock(con, settings)  # the log's moments (detected, recovering) are the data's
    found = scan(con, settings, grain, since=since)
    needed = rules()["scan"]["recovery_periods"][grain]
    span = data_span(con)  # the window recorded: since, else the whole history (crisis_scans)
    window_from = since or (span[0].date() if span else None)
    if notify is not None:
        notify.start(con)  # a destination new to this warehouse starts here: told this scan, not the history
    record_scan(
        con,
        found.crises,
        settings.as_of,
        recovery_periods_needed=needed,
        grain=grain,
        window_from=window_from,
        acknowledge_within=acknowledge_allowances(),
    )
    if notify is not None:
        notify.deliver(con, settings.as_of)
    if view is None or not view.limit:
        return len(found.crises)
    return sum(view.shows_crisis(c.dimension, c.segment) for c in found.crises)


def record_counts(con: duckdb.DuckDBPyConnection, settings: Settings, view: View) -> dict[str, int] | None:
    """Rows per table of the warehouse, or None for a limited view: they are the whole organisation's."""
    return None if view.limit else table_counts(con)


def visible_crisis(con: duckdb.DuckDBPyConnection, view: View, crisis_id: int) -> dict:
    """One crisis with its history; CrisisLogError when missing or outside the view's limit.

    To a limited view both read alike, so a forged link cannot tell which ids exist elsewhere.
    """
    hidden = CrisisLogError(f"Crisis {crisis_id} is not in the log or outside the segments you may see.")
    try:
        crisis = get_crisis(con, crisis_id)
    except CrisisLogError:
        if view.limit:
            raise hidden from None
        raise
    if not view.shows_crisis(crisis["dimension"], crisis["segment"]):
        raise hidden
    evidence = crisis.get("evidence") or {}
    if view.limit and evidence.get("also_seen_in"):
        # A crisis folded from several places names them all ("team Billing"): keep only theirs.
        seen = [p for p in evidence["also_seen_in"] if view.shows_crisis(*[*str(p).split(" ", 1), ""][:2])]
        crisis = {**crisis, "evidence": {**evidence, "also_seen_in": seen}}
    return crisis


def weekly_trend_view(con: duckdb.DuckDBPyConnection, settings: Settings, view: View, name: str) -> dict | None:
    """The forecast band and STL components of one KPI's complete weeks, or None when too short to model."""
    trend = weekly_trend(con, name, settings, filters=view.segments)
    if trend.series.height < 8:
        return None
    lang = view.language
    summary = f"{method_text(trend.forecast.method, lang)}, {method_text(trend.decomposition.method, lang)}."
    if trend.forecast.crossing_message:
        summary += " " + method_text(trend.forecast.crossing_message, lang)
    return {
        "summary": summary,
        "history": trend.series.select("period_start", "value").sort("period_start"),
        "forecast": trend.forecast.frame.select(
            "period_start", "forecast", pl.col("lower").alias("low"), pl.col("upper").alias("high")
        ).sort("period_start"),
        "components": trend.decomposition.frame.select("period_start", "trend", "seasonal", "residual").sort(
            "period_start"
        ),
    }


def quarters(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """Quarters with tickets, newest first, as ("2026Q3", complete): complete when the data covers it whole,
    from its first day and past its end."""
    current = con.sql("SELECT count(*) FROM kpi_cube_meta WHERE data_version = ?", params=[data_version(con)])
    if current.fetchall()[0][0]:  # the cube's daily ticket counts know the quarters without a pass over the tickets
        days = "SELECT day FROM kpi_cube WHERE metric = 'ticket_volume' AND dimension = 'overall'"
    else:
        days = f"SELECT created_at AS day FROM tickets WHERE created_at >= '{earliest_moment().isoformat()}'"
    rows = con.sql(
        f"SELECT DISTINCT year(day) AS y, quarter(day) AS q FROM ({days}) ORDER BY y DESC, q DESC"
    ).fetchall()
    last = con.sql("SELECT max(created_at)::DATE FROM tickets").fetchall()[0][0]
    labels = [f"{year}Q{number}" for year, number in rows]
    first = first_day(con, load_settings())
    return [(label, quarter_covered(label, first, last)) for label in labels]


def records_behind(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    view: View,
    name: str,
    grain: str = "week",
    dimension: str | None = None,
    segment: str | None = None,
    dates: tuple[date | None, date | None] | None = None,
    limit: int = 500,
) -> pl.DataFrame:
    """The records behind metric ``name`` within the view's segments, newest first.

    Over the view's dates, or ``dates`` (first, last day) for one period or one crisis; with
    ``segment``, only that segment of ``dimension``.
    """
    first, last = dates if dates is not None else (view.date_from, view.date_to)
    query = Query((name,), grain, dimension, first, last, view.segments)
    return records(con, record_source(name), query, settings, segment=segment, limit=limit)


def record_source(name: str) -> str:
    """Which records stand behind a metric: survey answers, complaints or tickets."""
    m = metric(name)
    source = m.get("source") or m.get("numerator_source") or "tickets"
    return {"surveys": "surveys", "complaints": "complaints"}.get(source, "tickets")


# Questions asked without the sidebar's view (the list of quarters names no segment).
VIEWLESS_QUESTIONS = (quarters,)
# What each page asks when it opens with its default choices, in order, as the functions
# themselves: the benchmark times them, and a test checks that every question a page's source
# asks is listed here. Last in the module, so every question is defined.
PAGE_QUESTIONS: dict[str, tuple[tuple[Callable[..., Any], tuple], ...]] = {
    "overview": (
        (latest_complete_period, ()),
        (what_changed, ()),
        (headline_tiles, ()),
        (record_counts, ()),
        (open_crises_by_severity, ()),
        (open_crisis_list, ()),
    ),
    "trends": ((split_dimensions, ()), (kpi_series, ("csat", "week", None)), (weekly_trend_view, ("csat",))),
    "crisis_radar": (
        (crisis_table, (list(OPEN), None, None)),
        (crisis_chart, ("first_response_sla", "overall", "all", "week")),
    ),
    "service_levels": (
        (backlog_now, ()),
        (duration_distribution, ("first_response",)),
        (duration_distribution, ("resolution",)),
        (split_dimensions, (SERVICE_LEVEL_DIMENSIONS,)),
        *((by_segment, (SERVICE_METRICS, dimension)) for dimension in SERVICE_LEVEL_DIMENSIONS),
    ),
    "complaints": (
        (kpi_series, ("complaint_rate", "week", None)),
        (complaint_pareto, ()),
        (by_segment, (("complaint_volume", "complaint_rate"), "product")),
    ),
    "upload": (),
    "admin": (),
    "quarterly_review": ((quarters, ()), (quarterly_review, ())),
}
