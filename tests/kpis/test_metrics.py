"""Every KPI pinned to hand-computed values on a small warehouse, plus the edge cases of the issue."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from metrics.kpis.catalog import catalog
from metrics.kpis.compute import Query, compute, metric_sql, with_changes
from metrics.kpis.formats import format_value
from metrics.kpis.settings import load_settings
from pipelines.ingest import ingest_file
from tests.conftest import write

AS_OF = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
WEEK1, WEEK2, WEEK3 = date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)

# First responses (calendar minutes): T1 5, T2 915 (overnight; 15 in business hours), T3 20, T4 40, T5 80.
# Resolutions (hours): T1 1, T2 24, T3 4, T4 48; T5, T6, T7 open.
TICKETS = """\
ticket id,created at,first response at,resolved at,channel,team,customer id,is complaint,reopen count,agent replies
T1,2026-03-02 09:00,2026-03-02 09:05,2026-03-02 10:00,email,A,c1,no,0,1
T2,2026-03-02 17:50,2026-03-03 09:05,2026-03-03 17:50,chat,A,c2,no,1,3
T3,2026-03-03 08:00,2026-03-03 08:20,2026-03-03 12:00,email,B,c1,yes,0,1
T4,2026-03-04 09:00,2026-03-04 09:40,2026-03-06 09:00,phone,B,c3,no,0,1
T5,2026-03-05 09:00,2026-03-05 10:20,,email,B,c4,no,0,1
T6,2026-03-09 09:00,,,chat,A,c1,no,0,
T7,2026-03-20 11:30,,,email,A,c5,no,0,
"""
# C1 belongs to T3 (so T3 is not counted twice); C2 and C3 come from the complaint register only.
COMPLAINTS = """complaint id,ticket id,created at,resolved at,category,channel
C1,T3,2026-03-03 08:00,2026-03-03 12:00,billing,email
C2,,2026-03-04 10:00,2026-03-06 10:00,delivery,web
C3,,2026-03-09 10:00,,delivery,web
"""
# Mixed scales in one table: 5 of 1-5, 9 of 0-10 and 6 of 1-7 are satisfied; 2 and 3 of 1-5 are not.
SURVEYS = """response id,ticket id,responded at,survey type,score,scale
S1,T1,2026-03-02 12:00,csat,5,1-5
S2,T2,2026-03-03 18:00,csat,2,1-5
S3,T3,2026-03-03 13:00,csat,9,0-10
S4,T4,2026-03-06 10:00,csat,6,1-7
S5,T5,2026-03-05 11:00,csat,3,1-5
S6,,2026-03-10 10:00,nps,10,0-10
S7,,2026-03-10 10:00,nps,9,0-10
S8,,2026-03-10 10:00,nps,8,0-10
S9,,2026-03-10 10:00,nps,6,0-10
S10,,2026-03-10 10:00,nps,3,0-10
S11,T6,2026-03-17 10:00,csat,4,1-5
"""


def settings_file(tmp_path, conventions: str = "", targets: str = "", overrides: str = ""):
    path = tmp_path / "targets.toml"
    path.write_text(
        "[targets]\ncsat = { min = 0.90 }\ncomplaint_rate = { max = 0.05 }\n"
        f"{targets}\n{overrides}\n[conventions]\nmin_sample = 3\n{conventions}\n"
    )
    return load_settings(path, as_of=AS_OF)


@pytest.fixture
def warehouse(con, tmp_path):
    ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="UTC")
    ingest_file(con, write(tmp_path / "c.csv", COMPLAINTS), "complaints", source_tz="UTC")
    ingest_file(
        con, write(tmp_path / "s.csv", SURVEYS), "surveys", source_tz="UTC", mapping={"responded_at": "responded at"}
    )
    return con


def kpi(con, settings, name, grain="week", dimension=None, **query):
    result = compute(con, Query((name,), grain, dimension, **query), settings)
    return {(r["period_start"], r["segment"]): r for r in result.iter_rows(named=True)}


def test_csat_counts_top_two_boxes_of_each_answers_own_scale(warehouse, tmp_path):
    rows = kpi(warehouse, settings_file(tmp_path), "csat")
    week = rows[(WEEK1, "all")]
    assert (week["numerator"], week["denominator"], week["value"]) == (3, 5, pytest.approx(0.6))
    # Wilson 95% interval for 3 of 5, from the textbook formula: (0.2307, 0.8824).
    assert week["ci_low"] == pytest.approx(0.2307, abs=1e-4) and week["ci_high"] == pytest.approx(0.8824, abs=1e-4)
    assert week["status"] == "missed"  # the whole interval lies below 90%
    assert (WEEK2, "all") not in rows  # no CSAT answers that week: no number, not zero
    single = rows[(WEEK3, "all")]
    assert (single["value"], single["n"], single["status"]) == (1.0, 1, "small_sample")
    assert single["ci_low"] == pytest.approx(0.2065, abs=1e-4) and single["ci_high"] == 1.0


def test_status_not_credibly_missed_and_segment_override(warehouse, tmp_path):
    settings = settings_file(
        tmp_path,
        targets="",
        overrides='[[overrides]]\nmetric = "csat"\ndimension = "team"\nsegment = "B"\nmin = 0.5\n',
    )
    by_team = kpi(warehouse, settings, "csat", dimension="team")
    team_b = by_team[(WEEK1, "B")]  # S3, S4 satisfied, S5 not
    assert (team_b["value"], team_b["target"], team_b["status"]) == (pytest.approx(2 / 3), 0.5, "met")
    team_a = by_team[(WEEK1, "A")]  # S1 satisfied, S2 not: 1 of 2 is below min_sample 3
    assert (team_a["value"], team_a["target"], team_a["status"]) == (0.5, 0.9, "small_sample")
    lenient = load_settings(
        write(tmp_path / "lenient.toml", "[targets]\ncsat = { min = 0.85 }\n[conventions]\nmin_sample = 3\n"),
        as_of=AS_OF,
    )
    assert kpi(warehouse, lenient, "csat")[(WEEK1, "all")]["status"] == "not_credibly_missed"


def test_mean_score_and_nps(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    assert kpi(warehouse, settings, "mean_score")[(WEEK1, "all")]["value"] == pytest.approx(10 / 3)
    nps = kpi(warehouse, settings, "nps")[(WEEK2, "all")]  # promoters 10, 9; detractors 6, 3; passive 8
    assert (nps["value"], nps["n"]) == (pytest.approx(0.0), 5)
    # Variance of promoters minus detractors: (0.4 + 0.4 - 0**2) / 5, so the half-width is 1.96 * 0.4 = 0.784.
    assert nps["ci_low"] == pytest.approx(-0.784, abs=1e-3) and nps["ci_high"] == pytest.approx(0.784, abs=1e-3)


def test_complaint_rate_is_a_ratio_at_the_grain_not_an_average_of_daily_rates(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    week = kpi(warehouse, settings, "complaint_rate")[(WEEK1, "all")]
    assert (week["numerator"], week["denominator"], week["value"]) == (2, 5, pytest.approx(0.4))
    daily = [
        r["value"] for (day, _), r in kpi(warehouse, settings, "complaint_rate", grain="day").items() if day < WEEK2
    ]
    assert sorted(daily) == [0.0, 0.0, 1.0, 1.0]  # the mean of daily rates would be 0.5
    per_1000 = kpi(warehouse, settings, "complaints_per_1000")[(WEEK1, "all")]
    assert per_1000["value"] == pytest.approx(400.0)


def test_complaint_rate_per_unique_customer(warehouse, tmp_path):
    settings = settings_file(tmp_path, conventions='complaint_rate_denominator = "customers"')
    week = kpi(warehouse, settings, "complaint_rate")[(WEEK1, "all")]
    assert (week["numerator"], week["denominator"]) == (2, 4)  # c1 opened two tickets


def test_first_response_quantiles_with_order_statistic_intervals(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    median = kpi(warehouse, settings, "first_response_median")[(WEEK1, "all")]
    assert (median["value"], median["n"], median["ci_low"], median["ci_high"]) == (40.0, 5, 5.0, 915.0)
    p90 = kpi(warehouse, settings, "first_response_p90")[(WEEK1, "all")]
    assert p90["value"] == 915.0


def test_first_response_sla_counts_unanswered_past_sla_as_breach_now(warehouse, tmp_path):
    rows = kpi(warehouse, settings_file(tmp_path), "first_response_sla")
    # Inquiries only (T3 is a complaint): T1 and T4 within 60 minutes, T2 and T5 not.
    assert (rows[(WEEK1, "all")]["numerator"], rows[(WEEK1, "all")]["denominator"]) == (1 + 1, 4)
    # T6 is still unanswered 11 days later: a breach now, not when it is finally answered.
    assert (rows[(WEEK2, "all")]["numerator"], rows[(WEEK2, "all")]["denominator"]) == (0, 1)
    # T7 was opened 30 minutes before the as-of time: not yet due, so not counted either way.
    assert (WEEK3, "all") not in rows


def test_business_hours_convention(warehouse, tmp_path):
    settings = settings_file(tmp_path, conventions='hours = "business"\nbusiness_hours = "09:00-18:00"')
    sla = kpi(warehouse, settings, "first_response_sla")[(WEEK1, "all")]
    assert (sla["numerator"], sla["denominator"]) == (3, 4)  # T2's overnight wait is 15 business minutes
    # Business minutes: T1 5, T2 15, T3 0 (answered at 08:20, before opening), T4 40, T5 80.
    assert kpi(warehouse, settings, "first_response_median")[(WEEK1, "all")]["value"] == pytest.approx(15.0)


def test_resolution_quantiles(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    median = kpi(warehouse, settings, "resolution_median")[(WEEK1, "all")]
    assert (median["value"], median["n"]) == (240.0, 4)  # minutes [60, 240, 1440, 2880]: the lower median
    assert kpi(warehouse, settings, "resolution_p90")[(WEEK1, "all")]["value"] == 2880.0


def test_complaint_resolution_sla(warehouse, tmp_path):
    rows = kpi(warehouse, settings_file(tmp_path), "complaint_resolution_sla")
    assert (rows[(WEEK1, "all")]["numerator"], rows[(WEEK1, "all")]["denominator"]) == (1, 2)  # C2 took 48 h
    assert (rows[(WEEK2, "all")]["numerator"], rows[(WEEK2, "all")]["denominator"]) == (0, 1)  # C3 still open


def test_reopen_rate_and_first_contact_resolution_conventions(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    assert kpi(warehouse, settings, "reopen_rate")[(WEEK1, "all")]["value"] == pytest.approx(0.25)
    assert kpi(warehouse, settings, "first_contact_resolution")[(WEEK1, "all")]["value"] == pytest.approx(0.75)
    no_repeat = settings_file(tmp_path, conventions='fcr = "no_repeat"\nfcr_repeat_days = 7')
    # c1 came back within 7 days after T1 (T3) and after T3 (T6): only T2 and T4 count.
    assert kpi(warehouse, no_repeat, "first_contact_resolution")[(WEEK1, "all")]["value"] == pytest.approx(0.5)


def test_backlog_counts_tickets_open_at_each_period_end(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    backlog = kpi(warehouse, settings, "backlog")
    assert {k[0]: v["value"] for k, v in backlog.items()} == {WEEK1: 1, WEEK2: 2, WEEK3: 3}
    age = kpi(warehouse, settings, "backlog_age")[(WEEK3, "all")]
    assert age["value"] == pytest.approx(267 * 60)  # T5 363 h, T6 267 h, T7 0.5 h at the as-of time


def test_volumes_and_survey_response_rate(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    assert kpi(warehouse, settings, "ticket_volume")[(WEEK1, "all")]["value"] == 5
    assert kpi(warehouse, settings, "survey_volume")[(WEEK2, "all")]["value"] == 5
    assert kpi(warehouse, settings, "complaint_volume")[(WEEK1, "all")]["value"] == 2
    rate = kpi(warehouse, settings, "survey_response_rate")[(WEEK1, "all")]
    assert (rate["numerator"], rate["denominator"]) == (5, 4)
    assert rate["ci_low"] is None  # more answers than resolved tickets: no binomial interval


def test_ces_has_no_answers_here(warehouse, tmp_path):
    assert kpi(warehouse, settings_file(tmp_path), "ces") == {}


def test_tickets_with_only_creation_times_are_no_data_for_what_they_lack(con, tmp_path):
    # Neither answered nor closed in this export: not "all open and all late", but unknown.
    bare = "ticket id,created at\nO1,2026-03-02 09:00\nO2,2026-03-03 09:00\n"
    ingest_file(con, write(tmp_path / "o.csv", bare), "tickets", source_tz="UTC")
    settings = settings_file(tmp_path)
    assert kpi(con, settings, "ticket_volume")[(WEEK1, "all")]["value"] == 2
    for name, column in (("first_response_sla", "first_response_at"), ("resolution_median", "resolved_at"),
                         ("backlog", "resolved_at or closed_at")):  # fmt: skip
        record = kpi(con, settings, name)[(WEEK1, "all")]
        assert (record["value"], record["n"], record["status"]) == (None, 0, "no_data"), name
        assert f"column {column}" in record["reason"]


def test_period_edges_follow_the_reporting_time_zone(con, tmp_path):
    sunday_night = "ticket id,created at\nZ1,2026-03-01 23:30\n"  # UTC: Monday 07:30 in Shanghai
    ingest_file(con, write(tmp_path / "z.csv", sunday_night), "tickets", source_tz="UTC")
    utc = kpi(con, settings_file(tmp_path), "ticket_volume")
    shanghai = kpi(con, settings_file(tmp_path, conventions='report_time_zone = "Asia/Shanghai"'), "ticket_volume")
    assert list(utc) == [(date(2026, 2, 23), "all")]
    assert list(shanghai) == [(WEEK1, "all")]


def test_date_range_and_segment_filters(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    volume = kpi(warehouse, settings, "ticket_volume", date_from=WEEK1, date_to=date(2026, 3, 3))
    assert volume[(WEEK1, "all")]["value"] == 3
    email = kpi(warehouse, settings, "ticket_volume", filters=(("channel", ("email",)),))
    assert email[(WEEK1, "all")]["value"] == 3


def test_breakdown_by_extra_source_attribute(con, tmp_path):
    text = "ticket id,created at,language\nL1,2026-03-02 09:00,en\nL2,2026-03-02 10:00,zh\nL3,2026-03-03 10:00,zh\n"
    ingest_file(con, write(tmp_path / "l.csv", text), "tickets", source_tz="UTC")
    rows = kpi(con, settings_file(tmp_path), "ticket_volume", dimension="attr:language")
    assert {k[1]: v["value"] for k, v in rows.items()} == {"en": 1, "zh": 2}


def test_month_and_quarter_grains(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    assert kpi(warehouse, settings, "ticket_volume", grain="month")[(date(2026, 3, 1), "all")]["value"] == 7
    assert kpi(warehouse, settings, "ticket_volume", grain="quarter")[(date(2026, 1, 1), "all")]["value"] == 7


def test_kpi_query_reads_only_the_columns_it_needs(warehouse, tmp_path):
    sql = metric_sql("first_response_median", Query(("first_response_median",), "week", "channel"), load_settings())
    plan = warehouse.sql("EXPLAIN " + sql).fetchall()[0][1]
    scan = plan[plan.index("Table: ") :]
    projected = scan[scan.index("Projections:") + len("Projections:") : scan.index("Filters:")]
    columns = {c.strip(" │\n") for c in projected.replace("│", ",").split(",") if c.strip(" │\n")}
    assert columns == {"created_at", "first_response_at", "channel"}


TESTED = {
    "csat", "mean_score", "survey_response_rate", "nps", "ces", "complaint_rate", "complaints_per_1000",
    "first_response_median", "first_response_p90", "first_response_sla", "resolution_median", "resolution_p90",
    "complaint_resolution_sla", "backlog", "backlog_age", "reopen_rate", "first_contact_resolution",
    "ticket_volume", "survey_volume", "complaint_volume", "communication_share", "communication_complaint_rate",
}  # fmt: skip


def test_every_catalog_metric_is_complete_and_tested():
    metrics = catalog()
    assert set(metrics) == TESTED, "a new metric needs a hand-computed test here"
    for m in metrics.values():
        assert m.label and m.label_zh and m.description and m.format and m.direction


def test_results_have_the_documented_columns(warehouse, tmp_path):
    result = compute(warehouse, Query(("csat",), "week"), settings_file(tmp_path))
    assert {"period_start", "grain", "dimension", "segment", "metric", "value", "numerator", "denominator",
            "ci_low", "ci_high", "n", "target", "status"} <= set(result.columns)  # fmt: skip
    assert result["period_start"].is_sorted()
    assert isinstance(result, pl.DataFrame)


def test_change_on_previous_period_says_whether_it_is_noise(warehouse, tmp_path):
    settings = settings_file(tmp_path)
    result = with_changes(compute(warehouse, Query(("complaint_rate", "ticket_volume"), "week"), settings))
    rows = {(r["metric"], r["period_start"]): r for r in result.iter_rows(named=True)}
    first = rows[("complaint_rate", WEEK1)]
    assert first["previous_value"] is None and first["change_significant"] is None
    # 2/5 → 1/1: pooled 3/6, SE sqrt(0.25 * (1/5 + 1)) = 0.5477, z = 0.6 / 0.5477 = 1.095, p = 0.273.
    rate = rows[("complaint_rate", WEEK2)]
    assert rate["change"] == pytest.approx(0.6)
    assert rate["change_p_value"] == pytest.approx(0.2733, abs=1e-3)
    assert rate["change_significant"] is False
    # Counts 5 → 1: Poisson z = 4 / sqrt(6) = 1.633, p = 0.102.
    volume = rows[("ticket_volume", WEEK2)]
    assert volume["change_p_value"] == pytest.approx(0.1025, abs=1e-3)


def test_values_are_formatted_as_people_read_them():
    assert format_value(0.9123, "percent") == "91.2%"
    assert format_value(45.0, "minutes") == "45 min"
    assert format_value(350.0, "minutes") == "5.8 h"
    assert format_value(4320.0, "minutes") == "3.0 d"
    assert format_value(12345, "count") == "12,345"
    assert format_value(0.32, "score") == "+32"
    assert format_value(None, "percent") == "–"


def test_complaint_rate_per_uploaded_orders(warehouse, tmp_path):
    orders = "date,channel,orders\n2026-03-02,email,30\n2026-03-03,email,10\n2026-03-03,web,10\n2026-03-03,web,10\n"
    result = ingest_file(warehouse, write(tmp_path / "orders.csv", orders), "orders", source_tz="UTC")
    # The repeated web row is the same day and segment: an exact duplicate, not more orders.
    assert (result.rows_loaded, result.rows_duplicate) == (3, 1)
    settings = settings_file(tmp_path, conventions='complaint_rate_denominator = "orders"')
    week = kpi(warehouse, settings, "complaint_rate")[(WEEK1, "all")]
    assert (week["numerator"], week["denominator"], week["value"]) == (2, 50, pytest.approx(0.04))
    by_channel = kpi(warehouse, settings, "complaint_rate", dimension="channel")
    assert (by_channel[(WEEK1, "web")]["numerator"], by_channel[(WEEK1, "web")]["denominator"]) == (1, 10)


def test_communication_share_counts_complaints_about_information_or_attitude(con, tmp_path):
    complaints = """complaint id,created at,category,text
K1,2026-03-02 09:00,wrong information,Agent gave the wrong delivery date
K2,2026-03-02 10:00,billing,I was misled about the price
K3,2026-03-03 10:00,billing,Charged twice
K4,2026-03-04 10:00,服务态度,客服态度很差
K5,2026-03-04 11:00,delivery delay,Parcel late
"""
    ingest_file(con, write(tmp_path / "k.csv", complaints), "complaints", source_tz="UTC")
    share = kpi(con, settings_file(tmp_path), "communication_share")[(WEEK1, "all")]
    # K1 by its category, K2 by its text ("misled"), K4 by its Chinese category and text ("态度").
    assert (share["numerator"], share["denominator"]) == (3, 5)
    narrow = settings_file(tmp_path, conventions='communication_keywords = ["misled"]')
    assert kpi(con, narrow, "communication_share")[(WEEK1, "all")]["numerator"] == 1
    # Per ticket, over the complaint-rate denominator: the 5 tickets created in the first week.
    ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="UTC")
    rate = kpi(con, settings_file(tmp_path), "communication_complaint_rate")[(WEEK1, "all")]
    assert (rate["numerator"], rate["denominator"], rate["value"]) == (3, 5, pytest.approx(0.6))
    assert kpi(con, narrow, "communication_complaint_rate")[(WEEK1, "all")]["value"] == pytest.approx(0.2)


def test_a_table_column_reads_exactly_as_a_single_value_does():
    """Segment tables format whole columns; they must not write a number another way than the tiles."""
    from metrics.kpis.formats import FORMATS, format_values

    values = [0.32, 5.0, 45.0, 350.0, 12345.0, 0.9123, None]
    for fmt in FORMATS:
        column = pl.DataFrame({"v": values}, schema={"v": pl.Float64}).select(format_values(pl.col("v"), fmt))
        assert column.to_series().to_list() == [format_value(v, fmt) for v in values], fmt
