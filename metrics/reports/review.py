"""The quarterly service-process review: KPIs against target and the previous quarter, the quarter's crises
and their handling, the top complaint causes and the slowest stages; as frames, HTML and an Excel workbook."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import IO

import duckdb
import polars as pl

from metrics.crises.causes import cause
from metrics.crises.log import list_crises
from metrics.kpis.catalog import catalog
from metrics.kpis.compute import RANGE, STATUSES, Query, compute, records_sql, with_changes
from metrics.kpis.formats import as_of_line, format_change, format_interval, format_moment, format_target, format_value
from metrics.kpis.periods import first_day
from metrics.kpis.presentation import present, status_colours
from metrics.kpis.scope import View
from metrics.kpis.settings import Settings, load_settings, on_data_clock
from metrics.reports.workbook import kpi_numbers, write_workbook
from pipelines.warehouse.store import warehouse_as_of

QUARTER = re.compile(r"^(\d{4})Q([1-4])$")
# The workbook's first sheet: what the review covers and the moment its data describes.
ABOUT_SHEET = "Review"
SHEETS = {"kpis": "KPIs", "crises": "Crises", "top_causes": "Complaint causes", "slowest_stages": "Slowest stages"}
# The review's KPI rows open with these statuses, in this order.
NEEDS_DISCUSSING = {"missed": 0, "not_credibly_missed": 1}


@dataclass(frozen=True)
class QuarterlyReview:
    """One quarter's review; every table is ready to show (formatted text where people read it)."""

    quarter: str
    previous: str
    start: date
    end: date
    generated_at: datetime
    kpis: pl.DataFrame
    crises: pl.DataFrame
    top_causes: pl.DataFrame
    slowest_stages: pl.DataFrame
    as_of: datetime | None = None  # the moment the data describes (its "now"); None when nothing is loaded
    numbers: pl.DataFrame | None = None  # the KPIs as numbers, for the workbook (metrics.reports.workbook)


def quarter_bounds(quarter: str) -> tuple[date, date]:
    """First and last day of a quarter written like 2026Q3, or a ValueError saying what is expected."""
    match = QUARTER.match(quarter.strip().upper()) if isinstance(quarter, str) else None
    if not match:
        raise ValueError(f"quarter {quarter!r} is not like 2026Q3")
    year, number = int(match.group(1)), int(match.group(2))
    start = date(year, 3 * number - 2, 1)
    following = date(year + (number == 4), 1 if number == 4 else 3 * number + 1, 1)
    return start, following - timedelta(days=1)


def previous_quarter(quarter: str) -> str:
    start, _ = quarter_bounds(quarter)
    before = start - timedelta(days=1)
    return f"{before.year}Q{(before.month - 1) // 3 + 1}"


def quarter_covered(quarter: str, data_from: date | None, data_to: date | None) -> bool:
    """Whether data from ``data_from`` to ``data_to`` covers the quarter whole: from its first day and past its end.

    Data starting on 18 November does not make a fourth quarter, however it ends.
    """
    start, end = quarter_bounds(quarter)
    return data_from is not None and data_to is not None and data_from <= start and end < data_to


def last_complete_quarter(con: duckdb.DuckDBPyConnection) -> str | None:
    """The latest quarter the data covers whole (None for an empty warehouse, or one holding no whole quarter)."""
    last = con.sql("SELECT max(created_at)::DATE FROM tickets").fetchall()[0][0]
    if last is None:
        return None
    following = last + timedelta(days=1)
    latest = previous_quarter(f"{following.year}Q{(following.month - 1) // 3 + 1}")
    return latest if quarter_covered(latest, first_day(con, load_settings()), last) else None


def _kpis(con, settings: Settings, start: date, end: date, filters) -> pl.DataFrame:
    previous_start, _ = quarter_bounds(previous_quarter(f"{start.year}Q{(start.month - 1) // 3 + 1}"))
    names = tuple(catalog())
    results = with_changes(compute(con, Query(names, "quarter", None, previous_start, end, filters), settings))
    this_quarter = results.filter(pl.col("period_start") == start)
    # A previous quarter the data began in is shown as such: its partial count is no baseline.
    before = results.filter(pl.col("period_start") == previous_start)
    previous_whole = dict(zip(before["metric"], before["complete"], strict=True))
    rows = []
    for name, m in catalog().items():
        found = this_quarter.filter(pl.col("metric") == name)
        if found.is_empty():
            continue
        row = found.row(0, named=True)
        target = settings.target_for(name)
        rows.append(
            {
                "metric": name,
                "label": m.label,
                "value": format_value(row["value"], m.format),
                "interval": format_interval(row["ci_low"], row["ci_high"], m.format),
                "n": row["n"],
                "target": "" if target is None else format_target(target.bound, target.value, m.format),
                "status": row["status"],
                "status_text": STATUSES[row["status"]],
                "previous_quarter": format_value(row["previous_value"], m.format)
                + ("" if previous_whole.get(name, True) else " (incomplete)"),
                "change": format_change(row["change"], m.format),
                "change_significant": {None: "–", True: "yes", False: "no"}[row["change_significant"]],
                "note": row["reason"] or "",  # why a KPI without its inputs has no number
            }
        )
    schema = {
        "metric": pl.String, "label": pl.String, "value": pl.String, "interval": pl.String, "n": pl.Int64,
        "target": pl.String, "status": pl.String, "status_text": pl.String, "previous_quarter": pl.String,
        "change": pl.String, "change_significant": pl.String, "note": pl.String,
    }  # fmt: skip
    # What needs discussing first: targets credibly missed, then those missed within the uncertainty, then the
    # rest in the catalog's order (a stable sort keeps it).
    rank = pl.col("status").replace_strict(NEEDS_DISCUSSING, default=len(NEEDS_DISCUSSING), return_dtype=pl.Int8)
    return pl.DataFrame(rows, schema=schema).sort(rank, maintain_order=True)


def crisis_cause(crisis: dict, lang: str) -> str:
    """A crisis's cause in one sentence, from its metric and its stored contributors (JSON or a list)."""
    contributors = crisis["contributors"]
    if isinstance(contributors, str):
        contributors = json.loads(contributors or "[]")
    return cause(crisis["metric"], contributors or [], lang).sentence


def _crises(con, view: View, start: date, end: date) -> pl.DataFrame:
    log = view.crises(list_crises(con))
    overlapping = log.filter(
        (pl.col("start_period") <= end) & (pl.col("end_period").is_null() | (pl.col("end_period") >= start))
    )
    return overlapping.sort("start_period", "crisis_id").select(
        pl.col("crisis_id").alias("id"),
        "severity",
        "type",
        (pl.col("dimension") + " " + pl.col("segment")).alias("where"),
        "metric",
        # One sentence per crisis of the quarter (a handful): the cause as the crisis page words it.
        pl.struct("metric", "contributors")
        .map_elements(lambda c: crisis_cause(c, view.language), return_dtype=pl.String)
        .alias("cause"),
        pl.col("start_period").cast(pl.String).alias("start"),
        pl.col("end_period").cast(pl.String).alias("end"),
        pl.col("status").alias("handling_reached"),
        pl.col("owner").fill_null(""),
        pl.col("fishbone_category").fill_null("").alias("root_cause"),
        pl.col("review_text").fill_null("").alias("review"),
    )


def _top_causes(con, settings: Settings, start: date, end: date, filters, top: int) -> pl.DataFrame:
    previous_start, previous_end = quarter_bounds(previous_quarter(f"{start.year}Q{(start.month - 1) // 3 + 1}"))

    def counted(first: date, last: date, column: str) -> pl.DataFrame:
        frame = compute(con, Query(("complaint_volume",), RANGE, "category", first, last, filters), settings)
        return frame.select(pl.col("segment").alias("cause"), pl.col("value").cast(pl.Int64).alias(column))

    now = counted(start, end, "complaints")
    if now.is_empty():
        return pl.DataFrame(
            schema={"cause": pl.String, "complaints": pl.Int64, "share": pl.Float64, "previous_quarter": pl.Int64}
        )
    before = counted(previous_start, previous_end, "previous_quarter")
    return (
        now.join(before, on="cause", how="left")
        .with_columns(
            (pl.col("complaints") / pl.col("complaints").sum()).round(3).alias("share"),
            pl.col("previous_quarter").fill_null(0),
        )
        .sort(["complaints", "cause"], descending=[True, False])
        .head(top)
        .select("cause", "complaints", "share", "previous_quarter")
    )


def _slowest_stages(con, settings: Settings, start: date, end: date, filters, top: int) -> pl.DataFrame:
    tickets = records_sql("tickets", Query(("ticket_volume",), RANGE, None, start, end, filters), settings)
    hours = "(epoch({end}) - epoch(created_at)) / 3600.0"
    first, resolved = hours.format(end="first_response_at"), hours.format(end="resolved_at")
    return con.sql(
        f"""SELECT coalesce(category, '(none)') AS case_type, count(*) AS tickets,
                   round(quantile_disc({first}, 0.5), 1) AS first_response_median_h,
                   round(quantile_disc({first}, 0.9), 1) AS first_response_p90_h,
                   round(quantile_disc({resolved}, 0.5), 1) AS resolution_median_h,
                   round(quantile_disc({resolved}, 0.9), 1) AS resolution_p90_h
            FROM ({tickets})
            GROUP BY ALL
            ORDER BY resolution_p90_h DESC NULLS LAST, case_type
            LIMIT {int(top)}"""
    ).pl()


def quarterly_review(
    con: duckdb.DuckDBPyConnection,
    quarter: str,
    settings: Settings | None = None,
    view: View | None = None,
    top: int = 10,
) -> QuarterlyReview:
    """Everything the quarterly review shows for ``quarter`` (like 2026Q3), within the view's segments.

    The view's dates are not used (the quarter is); its segment filters narrow the KPIs, causes
    and stages, and its limit (the reader's segments) the crises as well.
    """
    start, end = quarter_bounds(quarter)
    # A moment the caller chose is the review's; otherwise it is the data's own.
    as_of = warehouse_as_of(con) if settings is None or settings.as_of_from_clock else settings.as_of
    settings = on_data_clock(con, settings)
    view = view or View()
    filters = view.segments
    label = f"{start.year}Q{(start.month - 1) // 3 + 1}"
    return QuarterlyReview(
        quarter=label,
        previous=previous_quarter(label),
        start=start,
        end=end,
        generated_at=datetime.now(UTC),
        kpis=_kpis(con, settings, start, end, filters),
        crises=_crises(con, view, start, end),
        top_causes=_top_causes(con, settings, start, end, filters, top),
        slowest_stages=_slowest_stages(con, settings, start, end, filters, top),
        as_of=as_of,
        numbers=kpi_numbers(con, settings, start, end, quarter_bounds(previous_quarter(label))[0], filters),
    )


def _html_table(frame: pl.DataFrame) -> str:
    """A table as the pages show it (metrics.kpis.presentation): worded headers and cells, statuses coloured."""
    if frame.is_empty():
        return "<p class='empty'>None in this quarter.</p>"
    shown, colours = present(frame), status_colours(frame)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = []
    for row in shown.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            text = "" if value is None else html.escape(f"{value:,}" if isinstance(value, int) else str(value))
            colour = colours.get(column, {}).get(value)
            style = f" style='color:{colour};font-weight:600'" if colour else ""
            cells.append(f"<td{style}>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(review: QuarterlyReview, title: str | None = None) -> str:
    """The review as one self-contained HTML page: inline styles, no scripts, fonts or images fetched."""
    heading = html.escape(title or f"CSAT Radar quarterly review {review.quarter}")
    met = review.kpis.filter(pl.col("status") == "met").height
    judged = review.kpis.filter(pl.col("status").is_in(["met", "missed", "not_credibly_missed"])).height
    sections = [
        ("KPIs against target", "Status in words and colour; change on " + review.previous + ".",
         _html_table(review.kpis.drop("metric"))),
        ("Crises and their handling", "Every crisis active during the quarter, with the handling step it reached.",
         _html_table(review.crises)),
        ("Top complaint causes", "Complaints by category, with the previous quarter's count.",
         _html_table(review.top_causes)),
        ("Slowest process stages by case type", "Time from creation to first response and to resolution.",
         _html_table(review.slowest_stages)),
    ]  # fmt: skip
    body = "".join(
        f"<section><h2>{html.escape(name)}</h2><p class='note'>{html.escape(note)}</p>{table}</section>"
        for name, note, table in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{heading}</title>
<style>
body {{ font-family: "Inter", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif;
       margin: 2rem auto; max-width: 1100px; color: #1f2933; }}
h1 {{ margin-bottom: 0.2rem; }} h2 {{ margin-top: 2rem; border-bottom: 2px solid #e4e7eb; padding-bottom: 0.3rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #e4e7eb; padding: 0.35rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f5f7fa; }} .note, .meta {{ color: #616e7c; }} .empty {{ color: #9aa5b1; font-style: italic; }}
</style></head><body>
<h1>{heading}</h1>
<p class="meta">{review.start:%Y-%m-%d} to {review.end:%Y-%m-%d}, compared with {review.previous}.
{met} of {judged} KPIs with a target met. {as_of_line(review.as_of)}.
Generated {format_moment(review.generated_at)}.</p>
{body}
</body></html>
"""


def about(review: QuarterlyReview) -> pl.DataFrame:
    """The workbook's header sheet: which quarter, compared with which, and the moment the data describes."""
    facts = {
        "Review": f"CSAT Radar quarterly review {review.quarter}",
        "From": f"{review.start:%Y-%m-%d}",
        "To": f"{review.end:%Y-%m-%d}",
        "Compared with": review.previous,
        "Data as of": format_moment(review.as_of) if review.as_of else "no data loaded yet",
        "Generated": format_moment(review.generated_at),
    }
    return pl.DataFrame({"field": list(facts), "value": list(facts.values())})


def write_excel(review: QuarterlyReview, target: str | IO[bytes]) -> None:
    """The review as a workbook: a header sheet (``about``), then one sheet per table, its numbers as numbers."""
    write_workbook(review, target, (ABOUT_SHEET, about(review)), SHEETS)
