"""The quarterly review as an Excel workbook whose numbers are numbers: they sum, sort and chart in a spreadsheet.

Each cell holds the value and a number format says how it reads (90.5% is 0.905 formatted "0.0%",
a duration is hours formatted '0.0 "h"', an NPS of +38 is 38 formatted "+0"); an interval is two
columns, low and high; a status is words on a fill of its colour. The HTML report and the pages
show the same numbers as text (metrics.kpis.formats).
"""

from __future__ import annotations

from datetime import date
from typing import IO, Any

import duckdb
import polars as pl

from metrics.kpis.catalog import catalog
from metrics.kpis.compute import STATUSES, Query, compute, with_changes
from metrics.kpis.presentation import COLUMNS, label, present
from metrics.kpis.settings import Settings
from metrics.reports.exports import escape_formula_cells

# How a KPI's value reads in a cell, by its catalog format: (scale applied to the stored value, Excel format).
# Durations are stored in minutes and written in hours; an NPS of 0.38 is written as 38.
VALUE_FORMATS = {
    "percent": (1.0, "0.0%"),
    "minutes": (1 / 60, '0.0 "h"'),
    "count": (1.0, "#,##0"),
    "score": (100.0, "+0;-0;0"),
    "decimal": (1.0, "0.00"),
}
# A change reads signed: a share's change in points, a duration's in hours.
CHANGE_FORMATS = {
    "percent": (100.0, '+0.0 "pts";-0.0 "pts";0.0 "pts"'),
    "minutes": (1 / 60, '+0.0 "h";-0.0 "h";0.0 "h"'),
    "count": (1.0, "+#,##0;-#,##0;0"),
    "score": (100.0, "+0;-0;0"),
    "decimal": (1.0, "+0.00;-0.00;0.00"),
}
# Fill colours of a status cell: the colours the HTML report writes the status in, lightened.
STATUS_FILLS = {"met": "#d8f0df", "not_credibly_missed": "#fbe7c6", "missed": "#f8d3d3"}
KPI_HEADERS = (
    "KPI", "Value", "95% interval, low", "95% interval, high", "Records", "Target", "Status", "Previous quarter",
    "Previous quarter whole", "Change", "Significant change", "Note",
)  # fmt: skip
NUMBER_COLUMNS = (
    "metric", "value", "ci_low", "ci_high", "n", "target", "target_bound", "status", "previous_value",
    "previous_complete", "change", "change_significant", "reason",
)  # fmt: skip
# The other sheets' number formats, by column: shares as percentages, hours as hours, counts with separators.
COLUMN_FORMATS = {
    "share": "0.0%",
    "complaints": "#,##0",
    "previous_quarter": "#,##0",
    "tickets": "#,##0",
    "first_response_median_h": '0.0 "h"',
    "first_response_p90_h": '0.0 "h"',
    "resolution_median_h": '0.0 "h"',
    "resolution_p90_h": '0.0 "h"',
}


def kpi_numbers(
    con: duckdb.DuckDBPyConnection, settings: Settings, start: date, end: date, previous_start: date, filters
) -> pl.DataFrame:
    """The quarter's KPIs as numbers (one row per metric): value, interval, target, status, previous value, change."""
    names = tuple(catalog())
    results = with_changes(compute(con, Query(names, "quarter", None, previous_start, end, filters), settings))
    before = results.filter(pl.col("period_start") == previous_start).select(
        "metric", pl.col("complete").alias("previous_complete")
    )
    return results.filter(pl.col("period_start") == start).join(before, on="metric", how="left").select(*NUMBER_COLUMNS)


def _kpi_sheet(workbook, review: Any, sheet_name: str) -> None:
    """The KPI sheet, cell by cell: each row's number format is its KPI's (a percentage, hours, a count)."""
    sheet = workbook.add_worksheet(sheet_name)
    bold = workbook.add_format({"bold": True, "bg_color": "#f5f7fa"})
    sheet.write_row(0, 0, KPI_HEADERS, bold)
    numbers = review.kpis.select("metric").join(review.numbers, on="metric", how="left", maintain_order="left")
    formats: dict[str, object] = {}

    def cell_format(spec: str, fill: str | None = None):
        key = f"{spec}|{fill}"
        if key not in formats:
            formats[key] = workbook.add_format({"num_format": spec, **({"bg_color": fill} if fill else {})})
        return formats[key]

    # Twenty-odd KPI rows written one by one: a cell's format is per row, which a column format cannot say.
    for row, kpi in enumerate(numbers.iter_rows(named=True), start=1):
        m = catalog()[kpi["metric"]]
        scale, spec = VALUE_FORMATS.get(m.format, VALUE_FORMATS["decimal"])
        change_scale, change_spec = CHANGE_FORMATS.get(m.format, CHANGE_FORMATS["decimal"])
        bound = {"min": '"≥ "', "max": '"≤ "'}.get(kpi["target_bound"] or "", "")
        sheet.write_string(row, 0, m.label)
        for column, key, factor, fmt in (
            (1, "value", scale, spec),
            (2, "ci_low", scale, spec),
            (3, "ci_high", scale, spec),
            (5, "target", scale, bound + spec.split(";")[0]),
            (7, "previous_value", scale, spec),
            (9, "change", change_scale, change_spec),
        ):
            if kpi[key] is not None:
                sheet.write_number(row, column, kpi[key] * factor, cell_format(fmt))
        if kpi["n"] is not None:
            sheet.write_number(row, 4, kpi["n"], cell_format("#,##0"))
        sheet.write_string(row, 6, STATUSES[kpi["status"]], cell_format("@", STATUS_FILLS.get(kpi["status"])))
        sheet.write_string(row, 8, {None: "", True: "yes", False: "no"}[kpi["previous_complete"]])
        sheet.write_string(row, 10, {None: "", True: "yes", False: "no"}[kpi["change_significant"]])
        sheet.write_string(row, 11, kpi["reason"] or "")
    sheet.set_column(0, 0, 30)
    sheet.set_column(1, 5, 14)
    sheet.set_column(6, 6, 38)
    sheet.set_column(7, 11, 16)
    sheet.freeze_panes(1, 1)


def write_workbook(
    review: Any, target: str | IO[bytes], about: tuple[str, pl.DataFrame], sheets: dict[str, str]
) -> None:
    """The review as a workbook: ``about`` first, the KPIs as numbers, then the other tables with worded headers.

    ``review`` is a ``review.QuarterlyReview`` (not imported: review.py imports this module).
    """
    import xlsxwriter

    workbook = xlsxwriter.Workbook(target, {"in_memory": True})
    try:
        first, *others = sheets.items()
        about[1].write_excel(workbook=workbook, worksheet=about[0], autofit=True)
        _kpi_sheet(workbook, review, first[1])
        for attribute, sheet in others:
            frame = getattr(review, attribute).with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.String))
            if attribute == "crises":  # words only (and the crisis number): as the page words them
                frame = present(frame)
            formats = {label(c): f for c, f in COLUMN_FORMATS.items() if c in frame.columns}
            worded = escape_formula_cells(frame).rename({c: label(c) for c in frame.columns if c in COLUMNS})
            worded.write_excel(workbook=workbook, worksheet=sheet, autofit=True, column_formats=formats)
    finally:
        workbook.close()
