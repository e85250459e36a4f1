"""Exports the product was not developed on, loaded as a new user would: the CLI, no --map, no --profile.

Each file in ``tests/fixtures/held_out`` imitates one real export (README there): its header
spellings, value formats and encoding. Issue 19 is done when such exports load with 99% or
more of their rows, every row accounted for, the columns the KPIs read landing right.
Only ``--tz`` is given, where the file's times carry no offset: the user knows the zone the
tool wrote them in, as nothing in the file says it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FIXTURES, run_cli

HELD_OUT = FIXTURES / "held_out"
TABLE = {"tickets": "tickets", "surveys": "survey_responses", "complaints": "complaints"}
VOLUME = {"tickets": "ticket_volume", "surveys": "survey_volume", "complaints": "complaint_volume"}
UTC = "strftime({} AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S')"


@dataclass(frozen=True)
class HeldOut:
    """One export, how it must load, and one known record as the warehouse must hold it."""

    file: str
    kind: str
    tz: str
    counts: tuple[int, int, int, int, int]  # read, loaded, updated, duplicate, rejected
    columns: tuple[str, ...]  # canonical columns, read as text (timestamps in UTC)
    where: str  # picks the known record
    expected: tuple
    rejections: dict[str, int] = field(default_factory=dict)
    keys_derived: int = 0


CASES = [
    HeldOut(
        "cfpb_complaints_title_case.csv",
        "complaints",
        "UTC",
        (180, 180, 0, 0, 0),
        ("created_at", "status", "channel", "region", "category"),
        "complaint_id = '8412000'",
        ("2024-04-13 00:00:00", "closed", "Web", "NC", "Incorrect information on your report"),
    ),
    HeldOut(
        "cfpb_complaints_api.json",
        "complaints",
        "UTC",
        (150, 150, 0, 0, 0),
        ("created_at", "status", "channel", "region"),
        "complaint_id = '9100000'",
        ("2024-04-13 17:00:00", "closed", "Web", "NC"),
    ),
    HeldOut(
        "nyc_311_service_requests.csv",
        "tickets",
        "America/New_York",
        (200, 199, 0, 0, 1),
        ("created_at", "closed_at", "status", "channel", "team", "region", "category"),
        "ticket_id = '60100026'",
        ("2024-03-20 08:57:32", "2024-03-25 16:42:32", "closed", "UNKNOWN", "DOT", "QUEENS", "Street Condition"),
        rejections={"closed_at before created_at": 1},
    ),
    HeldOut(
        "sf_311_cases.csv",
        "tickets",
        "America/Los_Angeles",
        (150, 150, 0, 0, 0),
        ("created_at", "closed_at", "status", "channel", "team", "category"),
        "ticket_id = '18200000'",
        ("2024-03-09 02:06:25", "2024-03-09 20:42:25", "closed", "Phone", "HSOC Queue", "Encampments"),
    ),
    HeldOut(
        "olist_order_reviews.csv",
        "surveys",
        "America/Sao_Paulo",
        (200, 197, 0, 3, 0),
        ("ticket_id", "responded_at", "score", "scale", "is_satisfied"),
        "response_id = '475e952316961c3e4bcb64dfab870d90'",
        ("d7cb4e09d8f3e290d03067dc52b2014d", "2024-03-30 14:16:32", "5.0", "1-5", "true"),
        keys_derived=32,
    ),
    HeldOut(
        "amazon_fine_food_reviews.csv",
        "surveys",
        "America/Los_Angeles",  # Unix times are UTC whatever the zone
        (150, 150, 0, 0, 0),
        ("responded_at", "score", "scale", "is_satisfied"),
        "response_id = '1'",
        ("2011-04-05 00:00:00", "2.0", "1-5", "false"),
    ),
    HeldOut(
        "trustpilot_reviews.csv",
        "surveys",
        "Europe/Berlin",  # the shop's own zone; the headers say these times are UTC, and UTC wins
        (130, 130, 0, 0, 0),
        ("responded_at", "score", "scale"),
        "response_id = '40b314e60177c3e1ecdc14d9'",
        ("2024-03-29 07:16:11", "5.0", "1-5"),
    ),
    HeldOut(
        "car_complaints_resaved.csv",
        "complaints",
        "Asia/Shanghai",
        (120, 120, 0, 0, 0),
        ("created_at", "status", "category", "product"),
        "text = '东风日产轩逸车身生锈 后备箱盖内侧锈蚀（0）'",
        ("2024-03-21 16:00:00", "resolved", "C05", "轩逸"),
        keys_derived=120,
    ),
    HeldOut(
        "zendesk_tickets.csv",
        "tickets",
        "UTC",
        (150, 150, 0, 0, 0),
        ("created_at", "first_response_at", "resolved_at", "status", "channel", "team"),
        "ticket_id = '48002'",
        (
            "2024-03-16 04:38:00",
            "2024-03-16 05:08:00",
            "2024-03-17 03:23:00",
            "resolved",
            "Phone call (inbound)",
            "Support",
        ),
    ),
    HeldOut(
        "freshdesk_tickets.csv",
        "tickets",
        "UTC",
        (150, 150, 0, 0, 0),
        ("created_at", "first_response_at", "resolved_at", "closed_at", "status", "channel"),
        "ticket_id = '310'",
        ("2024-03-27 12:29:00", "2024-03-27 13:02:39", "2024-03-28 11:01:39", "2024-03-30 11:01:39", "closed", "Chat"),
    ),
    HeldOut(
        "freshdesk_satisfaction.csv",
        "surveys",
        "UTC",
        (83, 83, 0, 0, 0),
        ("ticket_id", "responded_at", "score", "scale", "comment"),
        "ticket_id = '312'",
        ("312", "2024-03-14 14:26:43", "3.0", "1-5", "Took too long"),
    ),
    HeldOut(
        "servicenow_incidents.csv",
        "tickets",
        "UTC",
        (150, 150, 0, 0, 0),
        ("created_at", "resolved_at", "status", "priority", "channel", "team"),
        "ticket_id = 'INC0010040'",
        ("2024-03-08 13:59:00", "2024-03-09 12:32:00", "resolved", "1 - Critical", "Self-service", "Network"),
    ),
    HeldOut(
        "hubspot_tickets.csv",
        "tickets",
        "UTC",
        (120, 120, 0, 0, 0),
        ("created_at", "first_response_at", "resolved_at", "closed_at", "agent", "channel"),
        "ticket_id = '1830000000'",
        (
            "2024-03-19 08:59:00",
            "2024-03-19 15:04:00",
            "2024-03-20 05:19:00",
            "2024-03-20 05:19:00",
            "Maya Cole",
            "Form",
        ),
    ),
    HeldOut(
        "jira_service_management.csv",
        "tickets",
        "Europe/London",  # British Summer Time from 31 March: +01:00 on 2 April
        (140, 140, 0, 0, 0),
        ("created_at", "resolved_at", "status", "priority", "agent", "category"),
        "ticket_id = 'ITSD-1200'",
        ("2024-04-02 07:21:00", "2024-04-04 03:23:00", "resolved", "Highest", "Ana Ruiz", "Incident"),
    ),
    HeldOut(
        "intercom_conversations.csv",
        "tickets",
        "UTC",
        (120, 120, 0, 0, 0),
        ("created_at", "resolved_at", "channel", "team"),
        "ticket_id = '217000000000000'",
        ("2024-03-24 04:27:00", "2024-03-24 04:49:00", "Email", "Support"),
    ),
    *[
        HeldOut(
            name,
            "tickets",
            "Asia/Shanghai",
            (150, 150, 0, 0, 0),
            ("created_at", "first_response_at", "resolved_at", "status", "channel", "category", "agent"),
            "ticket_id = 'GD20240300000'",
            ("2024-03-02 18:59:00", "2024-03-02 21:42:00", "2024-03-03 02:32:00", "resolved", "APP", "咨询", "张伟"),
        )
        for name in ("chinese_tickets_gbk.csv", "chinese_tickets_utf16.txt", "chinese_tickets.xlsx")
    ],
]


@dataclass(frozen=True)
class Loaded:
    case: HeldOut
    db: Path
    report: dict


@pytest.fixture(scope="module", params=CASES, ids=[c.file for c in CASES])
def loaded(request, tmp_path_factory) -> Loaded:
    """The export loaded by ``csat-radar ingest --json`` into a warehouse of its own."""
    case: HeldOut = request.param
    db = tmp_path_factory.mktemp("held_out") / "warehouse.duckdb"
    done = run_cli("ingest", str(HELD_OUT / case.file), "--kind", case.kind, "--tz", case.tz, "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    return Loaded(case, db, json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_held_out_export_loads_without_help_every_row_accounted_for(loaded):
    report, case = loaded.report, loaded.case
    counts = tuple(report[k] for k in ("rows_read", "rows_loaded", "rows_updated", "rows_duplicate", "rows_rejected"))
    assert counts == case.counts, report["rejections"]
    read, kept = report["rows_read"], report["rows_loaded"] + report["rows_updated"] + report["rows_duplicate"]
    assert read == kept + report["rows_rejected"]
    assert kept >= 0.99 * read
    assert report["rejections"] == case.rejections
    assert report["keys_derived"] == case.keys_derived


def test_a_held_out_export_puts_a_known_record_in_the_right_columns(loaded):
    case = loaded.case
    table = duckdb.connect(str(loaded.db), read_only=True)
    try:
        types = dict(table.sql(f"SELECT column_name, column_type FROM (DESCRIBE {TABLE[case.kind]})").fetchall())
        shown = [UTC.format(c) if types[c].startswith("TIMESTAMP") else f"{c}::VARCHAR" for c in case.columns]
        rows = table.sql(f"SELECT {', '.join(shown)} FROM {TABLE[case.kind]} WHERE {case.where}").fetchall()
    finally:
        table.close()
    assert rows == [case.expected]


def test_a_held_out_export_gives_plausible_kpis(loaded):
    case = loaded.case
    done = run_cli("kpis", "--db", str(loaded.db), "--json")
    assert done.returncode == 0, done.stderr
    overall = [r for r in json.loads(done.stdout) if r["dimension"] == "overall"]
    volume = sum(r["value"] for r in overall if r["metric"] == VOLUME[case.kind])
    assert volume == loaded.report["rows_loaded"]  # every record stored is counted once, in some week
    values: dict[str, list] = {}
    for record in overall:
        values.setdefault(record["metric"], []).append(record["value"])
    for metric in ("csat", "first_response_sla", "resolution_sla", "complaint_resolution_sla"):
        assert all(0 <= v <= 1 for v in values.get(metric, []) if v is not None), metric
    for metric in ("first_response_median", "resolution_median", "mean_score"):
        assert all(v > 0 for v in values.get(metric, []) if v is not None), metric
    if case.kind == "surveys":
        assert any(v is not None for v in values["csat"])
    if "first_response_at" in case.columns:  # a first response read from the file reaches the KPIs
        assert any(v is not None for v in values["first_response_median"])


def test_a_review_export_with_no_date_at_all_is_told_in_one_line_what_is_missing_and_what_it_has(tmp_path):
    """A survey answer without a moment cannot be placed in any period: no guess can help, so nothing loads."""
    db = tmp_path / "warehouse.duckdb"
    done = run_cli("ingest", str(HELD_OUT / "clothing_reviews_no_dates.csv"), "--kind", "surveys", "--db", str(db))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("csat-radar: clothing_reviews_no_dates.csv: no column for responded_at")
    assert "the file's columns are: 'column_1', 'Clothing ID', 'Age', 'Title', 'Review Text', 'Rating'," in line
    # The words before it serve the Upload page too; only the command line adds how to name a column.
    assert line.endswith("; name the column with --map responded_at=COLUMN")
    if db.exists():
        table = duckdb.connect(str(db), read_only=True)
        try:
            assert table.sql("SELECT count(*) FROM survey_responses").fetchall() == [(0,)]
        finally:
            table.close()
