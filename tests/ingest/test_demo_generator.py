"""The demo generator: deterministic, schema-shaped, realistic in normal times, and its crises visible."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta

import polars as pl
import pytest

from pipelines.demo.generator import DemoData, generate
from pipelines.warehouse.schema import COMPLAINTS, SURVEYS, TICKETS, Table

ONE_YEAR = 364
END = date(2026, 11, 15)
CRISIS_TYPES = {"service_quality", "communication_failure", "sudden_event", "customer_satisfaction"}
SQL_DTYPES = {
    "VARCHAR": {pl.String},
    "TIMESTAMPTZ": {pl.Datetime("us", "UTC")},
    "BOOLEAN": {pl.Boolean},
    "INTEGER": {pl.Int32, pl.Int64},
    "DOUBLE": {pl.Float64},
}


@pytest.fixture(scope="module")
def demo() -> DemoData:
    return generate(seed=7, end=END, days=ONE_YEAR)


@pytest.fixture(scope="module")
def calm() -> DemoData:
    return generate(seed=7, end=END, days=ONE_YEAR, inject_crises=False)


def _frames(data: DemoData) -> list[tuple[Table, pl.DataFrame]]:
    return [(TICKETS, data.tickets), (SURVEYS, data.surveys), (COMPLAINTS, data.complaints)]


def _csat(surveys: pl.DataFrame) -> float:
    return surveys.filter(pl.col("survey_type") == "csat")["is_satisfied"].mean()


def test_same_seed_gives_identical_frames(demo: DemoData) -> None:
    again = generate(seed=7, end=END, days=ONE_YEAR)
    for (_, frame), (_, repeated) in zip(_frames(demo), _frames(again), strict=True):
        assert frame.equals(repeated)
    assert demo.truth.equals(again.truth)


def test_different_seeds_give_different_data(demo: DemoData) -> None:
    other = generate(seed=8, end=END, days=ONE_YEAR)
    assert not demo.tickets.equals(other.tickets)
    assert not demo.truth.select("start", "segment").equals(other.truth.select("start", "segment"))


@pytest.mark.parametrize("kind", ["tickets", "surveys", "complaints"])
def test_columns_and_dtypes_follow_the_schema(demo: DemoData, kind: str) -> None:
    table, frame = next((t, f) for t, f in _frames(demo) if t.kind == kind)
    assert frame.columns == [*table.column_names, "attributes"]
    for column in table.columns:
        assert frame.schema[column.name] in SQL_DTYPES[column.sql_type], column.name
    assert frame.schema["attributes"] == pl.String
    attributes = frame["attributes"].drop_nulls()
    assert attributes.len() > 0
    assert all(isinstance(json.loads(value), dict) for value in attributes.unique())


def test_keys_are_unique_and_sorted(demo: DemoData) -> None:
    for table, frame in _frames(demo):
        keys = frame[table.key]
        assert keys.null_count() == 0
        assert keys.is_unique().all(), table.kind
        assert keys.is_sorted(), table.kind


def test_references_hold(demo: DemoData) -> None:
    ticket_ids = demo.tickets["ticket_id"]
    assert demo.surveys["ticket_id"].is_in(ticket_ids.implode()).all()
    complaint_tickets = demo.tickets.filter("is_complaint")["ticket_id"].sort()
    assert demo.complaints["ticket_id"].sort().equals(complaint_tickets)


def test_complaints_mirror_their_tickets(demo: DemoData) -> None:
    shared = ["created_at", "first_response_at", "resolved_at", "channel", "product", "region", "team", "customer_id"]
    joined = demo.complaints.join(demo.tickets, on="ticket_id", suffix="_ticket")
    for column in shared:
        assert joined[column].equals(joined[f"{column}_ticket"].alias(column)), column


def test_timestamps_are_in_causal_order(demo: DemoData) -> None:
    tickets = demo.tickets
    created = pl.col("created_at")
    assert tickets.filter(pl.col("first_response_at") < created).is_empty()
    assert tickets.filter(pl.col("resolved_at") < created).is_empty()
    assert tickets.filter(pl.col("resolved_at") < pl.col("first_response_at")).is_empty()
    assert tickets.filter(pl.col("closed_at") < pl.col("resolved_at")).is_empty()
    assert tickets["created_at"].dt.date().max() <= END
    responded = demo.surveys.join(tickets, on="ticket_id").filter(pl.col("responded_at") < pl.col("resolved_at"))
    assert responded.is_empty()


def test_normal_times_meet_the_targets_roughly(calm: DemoData) -> None:
    tickets = calm.tickets
    assert 0.85 <= _csat(calm.surveys) <= 0.96
    assert 0.02 <= tickets["is_complaint"].mean() <= 0.07
    answered_within_hour = (pl.col("first_response_at") - pl.col("created_at")) <= pl.duration(minutes=60)
    assert 0.83 <= tickets.select(answered_within_hour.mean()).item() <= 0.94
    assert 250 <= tickets.height / ONE_YEAR <= 400
    assert calm.truth.is_empty()


def test_csat_answers_dominate_and_use_their_scales(demo: DemoData) -> None:
    surveys = demo.surveys
    csat = surveys.filter(pl.col("survey_type") == "csat")
    assert csat.height > 0.8 * surveys.height
    assert set(csat["score"].unique().to_list()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert csat["is_satisfied"].equals(csat["score"] >= 4, check_names=False)
    nps = surveys.filter(pl.col("survey_type") == "nps")
    assert nps["is_satisfied"].equals(nps["score"] >= 9, check_names=False)


def test_injected_crises_cover_all_four_types(demo: DemoData) -> None:
    truth = demo.truth
    assert set(truth["type"]) == CRISIS_TYPES
    assert truth.schema["start"] == pl.Date and truth.schema["end"] == pl.Date
    first_day = END - timedelta(days=ONE_YEAR - 1)
    assert truth["start"].min() >= first_day + timedelta(weeks=12)
    assert (truth["end"] >= truth["start"]).all()
    for _, segment in truth.group_by("dimension", "segment"):
        ordered = segment.sort("start")
        assert (ordered["start"].shift(-1).drop_nulls() > ordered["end"].head(ordered.height - 1)).all()


def test_service_quality_crisis_lowers_the_team_csat(demo: DemoData) -> None:
    answers = demo.surveys.filter(pl.col("survey_type") == "csat").join(
        demo.tickets.select("ticket_id", "team", pl.col("created_at").dt.date().alias("day")), on="ticket_id"
    )
    crises = demo.truth.filter(pl.col("type") == "service_quality")
    assert crises.height >= 1
    for crisis in crises.iter_rows(named=True):
        team = answers.filter(pl.col("team") == crisis["segment"])
        during = team.filter(pl.col("day").is_between(crisis["start"], crisis["end"]))
        before = team.filter(
            pl.col("day").is_between(crisis["start"] - timedelta(weeks=8), crisis["start"] - timedelta(days=1))
        )
        assert during.height >= 100 and before.height >= 200
        assert _csat(during) <= _csat(before) - 0.05, crisis["crisis_id"]


def test_two_years_generate_quickly_with_ten_to_twelve_crises() -> None:
    started = time.perf_counter()
    data = generate()
    assert time.perf_counter() - started < 15
    assert 10 <= data.truth.height <= 12
    assert 250 <= data.tickets.height / 728 <= 400
