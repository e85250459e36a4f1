"""DuckDB and Spark agree on the edges real exports have: daylight-saving changes (one at local
midnight), sub-second times, tied durations, missing values and segments with no name.

Hypothesis writes small warehouses around a zone's clock changes; each is compared on the metrics
whose SQL reads local days, durations, windows and levels at a moment, at day and week grain, for
the whole organisation and every dimension. Spark's session is in yet another zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics.kpis.catalog import catalog
from metrics.kpis.settings import load_settings
from metrics.kpis.sql import Compiler, Query, declare_macros
from pipelines.warehouse.store import connect
from tests.kpis.spark_parity import TABLES, differences

# Each zone with an instant just before one of its clock changes (Santiago's spring change skips midnight).
ZONES = {
    "Europe/Berlin": datetime(2025, 3, 30, 0, 40, tzinfo=UTC),
    "America/New_York": datetime(2025, 11, 2, 5, 10, tzinfo=UTC),
    "America/Santiago": datetime(2025, 9, 7, 3, 30, tzinfo=UTC),
    "Australia/Lord_Howe": datetime(2025, 4, 5, 14, 50, tzinfo=UTC),
}
METRICS = ("first_response_median", "first_response_p90", "first_response_sla", "resolution_median",
           "complaint_resolution_sla", "first_contact_resolution", "backlog", "backlog_age", "csat",
           "complaint_rate")  # fmt: skip
# Durations in minutes, with ties and values a microsecond either side of the SLA's hour.
MINUTES = (0.0, 0.5, 1.0, 59.99999, 60.0, 60.00002, 61.0, 600.0, 1440.0, 2000.0)
SEGMENTS = (None, "", "email", "chat")


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    connection = connect(tmp_path_factory.mktemp("edges") / "w.duckdb")
    yield connection
    connection.close()


def moments(start: datetime):
    # Minutes around the change, each with a sub-second part.
    return st.builds(
        lambda minutes, micros: start + timedelta(minutes=minutes, microseconds=micros),
        st.integers(-36 * 60, 36 * 60),
        st.integers(0, 999_999),
    )


def tickets_for(start: datetime):
    row = st.fixed_dictionaries(
        {
            "created_at": moments(start),
            "first_response": st.none() | st.sampled_from(MINUTES),
            "resolution": st.none() | st.sampled_from(MINUTES),
            "channel": st.sampled_from(SEGMENTS),
            "customer_id": st.sampled_from((None, "c1", "c2", "c3")),
            "is_complaint": st.none() | st.booleans(),
            "agent_replies": st.none() | st.integers(0, 3),
        }
    )
    return st.lists(row, min_size=1, max_size=30)


def load(con, rows: list[dict], zone_start: datetime) -> None:
    tickets = pl.DataFrame(rows).with_row_index("n")
    created = pl.col("created_at")
    tickets = tickets.select(
        ("T" + pl.col("n").cast(pl.String)).alias("ticket_id"),
        created,
        (created + pl.duration(microseconds=(pl.col("first_response") * 60e6).cast(pl.Int64))).alias(
            "first_response_at"
        ),
        (created + pl.duration(microseconds=(pl.col("resolution") * 60e6).cast(pl.Int64))).alias("resolved_at"),
        pl.col("channel"),
        pl.col("customer_id"),
        pl.col("is_complaint"),
        pl.col("agent_replies").cast(pl.Int32),
        pl.lit(0, dtype=pl.Int32).alias("reopen_count"),
        pl.col("n").cast(pl.String).alias("row_hash"),
        pl.lit(1, dtype=pl.Int64).alias("batch_id"),
    )
    surveys = tickets.filter(pl.col("resolved_at").is_not_null()).select(
        ("S" + pl.col("ticket_id")).alias("response_id"),
        pl.col("ticket_id"),
        pl.col("resolved_at").alias("responded_at"),
        pl.lit("csat").alias("survey_type"),
        (pl.col("row_hash").cast(pl.Int64) % 5 + 1).cast(pl.Float64).alias("score"),
        pl.lit("1-5").alias("scale"),
        (pl.col("row_hash").cast(pl.Int64) % 5 >= 3).alias("is_satisfied"),
        pl.col("row_hash"),
        pl.col("batch_id"),
    )
    complaints = tickets.filter(pl.col("is_complaint").fill_null(False)).select(
        ("C" + pl.col("ticket_id")).alias("complaint_id"),
        "ticket_id",
        "created_at",
        "resolved_at",
        "row_hash",
        "batch_id",
    )
    for table, frame in (("tickets", tickets), ("survey_responses", surveys), ("complaints", complaints)):
        con.register("incoming", frame)
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
        con.unregister("incoming")


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_spark_agrees_with_duckdb_around_clock_changes(spark, con, tmp_path_factory, data):
    spark.session.conf.set("spark.sql.session.timeZone", "Asia/Kolkata")  # neither UTC nor the report's zone
    zone = data.draw(st.sampled_from(sorted(ZONES)), "zone")
    hours = data.draw(st.sampled_from(("calendar", "business")), "hours")
    fcr = data.draw(st.sampled_from(("one_reply", "no_repeat")), "fcr")
    rows = data.draw(tickets_for(ZONES[zone]), "tickets")
    load(con, rows, ZONES[zone])
    spark.register_duckdb(con, TABLES)
    path = tmp_path_factory.mktemp("conventions") / "targets.toml"
    path.write_text(
        f'[conventions]\nreport_time_zone = "{zone}"\nhours = "{hours}"\nbusiness_time_zone = "{zone}"\n'
        f'business_hours = "00:30-23:00"\nbusiness_days = [1, 2, 3, 4, 5, 6, 7]\nfcr = "{fcr}"\nfcr_repeat_days = 1\n'
    )
    settings_ = load_settings(path, as_of=ZONES[zone] + timedelta(days=2, microseconds=17))
    declare_macros(con, settings_.conventions)
    found = []
    for name in METRICS:
        m = catalog()[name]
        for grain in ("day", "week"):
            query = Query((name,), grain)
            duck = con.sql(Compiler(query, settings_).sql(m, cube=True)).pl()
            on_spark = spark.frame(Compiler(query, settings_, engine="spark").sql(m, cube=True))
            found += differences(duck, on_spark, f"{name} {grain} {zone} {hours} {fcr}")
    assert not found, "\n".join(found)
