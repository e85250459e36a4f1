"""DuckDB and Spark give the same KPI numbers: every metric of the catalog, at every grain, for the
whole organisation and by dimension, under each convention that changes the SQL.

The warehouse is a small demo history (sub-second times, attributes, missing values) with CES
answers and order counts added, so every metric has numbers. The Shanghai conventions run with
Spark's session in New York: a primitive that leaned on the session's zone would shift periods.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import polars as pl
import pytest

from cli.demo import build_demo
from metrics.kpis.catalog import GRAINS, catalog
from metrics.kpis.compute import compute
from metrics.kpis.dialect import render
from metrics.kpis.settings import load_settings, on_data_clock
from metrics.kpis.sql import RANGE, Compiler, Query, declare_macros
from pipelines.ingest import ingest_file
from pipelines.warehouse.store import connect
from tests.kpis.spark_parity import TABLES, differences

CONVENTIONS = {
    "calendar hours, UTC, one reply, per ticket": "",
    "business hours in Shanghai, no repeat, per customer": """
        hours = "business"
        business_hours = "08:30-17:45"
        business_time_zone = "Asia/Shanghai"
        holidays = ["2025-10-01", "2025-10-02"]
        report_time_zone = "Asia/Shanghai"
        fcr = "no_repeat"
        fcr_repeat_days = 3
        complaint_rate_denominator = "customers"
        first_response_sla_minutes = 90.5
        """,
    "per uploaded order, Saturday business hours in UTC": """
        hours = "business"
        business_days = [1, 2, 3, 4, 5, 6]
        complaint_rate_denominator = "orders"
        """,
}
# The metrics whose SQL a convention changes (the zone changes every metric's periods).
DURATIONS = ("first_response_median", "first_response_p90", "first_response_sla", "resolution_median",
             "resolution_p90", "complaint_resolution_sla")  # fmt: skip
CHANGED = {"per uploaded order, Saturday business hours in UTC": (*DURATIONS, "complaint_rate",
                                                                  "communication_complaint_rate")}  # fmt: skip
# The zone Spark's session is put in for a convention (UTC otherwise).
SESSION_ZONES = {"business hours in Shanghai, no repeat, per customer": "America/New_York"}
WINDOW = (date(2025, 3, 1), date(2026, 6, 30))
FIRST = next(iter(CONVENTIONS))
# DuckDB's spellings that sqlglot passes through to Trino unchanged, where Trino rejects them or reads them otherwise.
DUCKDB_ONLY = (r"\bepoch", r"\btimezone\(", r"\blist_sort\(", r"\blen\(", r"GROUP BY ALL", r"\bmedian\(",
               r"TIMESTAMPTZ", r"INTERVAL \(", r"\bbusiness_minutes\(", r"\bcsat_", r"\bgenerate_series\(")  # fmt: skip


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity")
    db = folder / "w.duckdb"
    build_demo(db, seed=5, daily_tickets=6, log_crises=False)
    con = connect(db)
    tickets = con.sql("SELECT ticket_id, created_at, channel FROM tickets").pl()
    answered = tickets.filter(pl.col("ticket_id").hash(1) % 4 == 0)
    ces = answered.select(
        ("CES-" + pl.col("ticket_id")).alias("response id"),
        pl.col("ticket_id").alias("ticket id"),
        (pl.col("created_at") + pl.duration(hours=5)).dt.strftime("%Y-%m-%dT%H:%M:%S%.6f%z").alias("responded at"),
        pl.lit("ces").alias("survey type"),
        (pl.col("ticket_id").hash(2) % 7 + 1).alias("score"),
        pl.lit("1-7").alias("scale"),
    )
    ces.write_csv(folder / "ces.csv")
    orders = (
        tickets.group_by(pl.col("created_at").dt.date().alias("date"), "channel")
        .agg((pl.len() * 3).alias("orders"))
        .drop_nulls("channel")
    )
    orders.write_csv(folder / "orders.csv")
    for name, kind in (("ces.csv", "surveys"), ("orders.csv", "orders")):
        result = ingest_file(con, folder / name, kind, source_tz="UTC")
        assert result.rows_rejected == 0 and result.rows_loaded > 0, result
    con.close()
    return db


@pytest.fixture(scope="module")
def engines(warehouse, spark):
    con = connect(warehouse, read_only=True)
    spark.register_duckdb(con, TABLES)
    yield con, spark
    con.close()


def settings_for(tmp_path, conventions: str):
    path = tmp_path / "targets.toml"
    path.write_text("[targets]\ncsat = { min = 0.9 }\n[conventions]\n" + conventions.replace("        ", ""))
    return load_settings(path)


def queries(grain: str, all_shapes: bool = True) -> list[tuple[Query, bool]]:
    """The statements compared at a grain: every dimension at once; one dimension; dates and a filter."""
    asked = [(Query((), grain), True)]
    if not all_shapes:
        return asked
    if grain == "week":
        asked += [
            (Query((), grain, "channel"), False),
            (Query((), grain, "attr:language"), False),
            (Query((), grain, "team", *WINDOW, (("channel", ("email", "chat")),)), False),
        ]
    if grain == RANGE:
        asked.append((Query((), grain, "region", *WINDOW), False))
    return asked


@pytest.mark.parametrize("grain", [*GRAINS, RANGE])
@pytest.mark.parametrize("conventions", list(CONVENTIONS))
def test_every_metric_gives_the_same_numbers_on_spark(engines, tmp_path, conventions, grain):
    con, spark = engines
    settings = on_data_clock(con, settings_for(tmp_path, CONVENTIONS[conventions]))
    declare_macros(con, settings.conventions)
    spark.session.conf.set("spark.sql.session.timeZone", SESSION_ZONES.get(conventions, "UTC"))
    found, compared = [], 0
    try:
        for m in catalog().values():
            if m.kind == "backlog" and grain == RANGE:
                continue  # a level at a moment, refused over a range on every engine
            if m.name not in CHANGED.get(conventions, (m.name,)):
                continue
            for query, cube in queries(grain, all_shapes=conventions == FIRST):
                query = replace(query, metrics=(m.name,))
                label = f"{m.name} {grain} {query.dimension or 'cube' if cube else 'overall'}"
                duck = con.sql(Compiler(query, settings).sql(m, cube=cube)).pl()
                on_spark = spark.frame(Compiler(query, settings, engine="spark").sql(m, cube=cube))
                found += differences(duck, on_spark, label)
                compared += duck.height
    finally:
        spark.session.conf.set("spark.sql.session.timeZone", "UTC")
    assert not found, "\n".join(found)
    assert compared > 0


def test_the_parity_warehouse_gives_every_metric_numbers_at_every_grain(engines, tmp_path):
    """A metric the parity data has no rows for would pass the parity test on two empty frames."""
    con, _ = engines
    settings = on_data_clock(con, settings_for(tmp_path, ""))
    for grain in GRAINS:
        result = compute(con, Query(tuple(catalog()), grain, "channel"), settings, use_cube=False)
        with_values = set(result.filter(pl.col("value").is_not_null())["metric"])
        assert with_values == set(catalog()), (grain, set(catalog()) - with_values)


def test_compute_on_spark_equals_compute_on_duckdb(engines, tmp_path):
    """The whole answer (values, intervals, targets, status, no data), with only the aggregates on Spark."""
    con, spark = engines
    settings = on_data_clock(
        con, settings_for(tmp_path, CONVENTIONS["business hours in Shanghai, no repeat, per customer"])
    )
    query = Query(tuple(catalog()), "month", "channel", *WINDOW)
    duck = compute(con, query, settings, use_cube=False)
    on_spark = compute(con, query, settings, engine=spark)
    keys = ["metric", "period_start", "segment"]
    assert duck.select(keys).equals(on_spark.select(keys))
    assert duck["status"].to_list() == on_spark["status"].to_list()
    words = ("status", "grain", "dimension", "target_bound", "reason", "metric")
    found = differences(duck.drop(words), on_spark.drop(words), "compute")
    assert not found, found


@pytest.mark.parametrize("conventions", list(CONVENTIONS))
def test_the_trino_sql_of_every_metric_parses_as_trino(engines, tmp_path, conventions):
    import sqlglot

    con, _ = engines
    settings = on_data_clock(con, settings_for(tmp_path, CONVENTIONS[conventions]))
    for m in catalog().values():
        for grain in (*GRAINS, RANGE):
            if m.kind == "backlog" and grain == RANGE:
                continue
            for query, cube in queries(grain):
                text = render(
                    Compiler(replace(query, metrics=(m.name,)), settings, engine="trino").sql(m, cube), "trino"
                )
                assert sqlglot.parse_one(text, read="trino") is not None
                for duckdb_only in DUCKDB_ONLY:
                    assert not re.search(duckdb_only, text, re.IGNORECASE), (m.name, grain, duckdb_only)
