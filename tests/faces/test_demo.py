"""The demo warehouse: built through the loader, with its crisis labels, and never half-written."""

from __future__ import annotations

import json

import duckdb

from pipelines.demo.generator import generate
from tests.conftest import run_cli


def test_demo_holds_everything_the_generator_made(demo):
    db, _, summary = demo
    data = generate(seed=3)
    assert (summary["tickets"], summary["survey_responses"], summary["complaints"]) == (
        data.tickets.height,
        data.surveys.height,
        data.complaints.height,
    )
    con = duckdb.connect(str(db), read_only=True)
    batches = con.sql("SELECT kind, rows_read, rows_loaded, rows_rejected FROM batches ORDER BY kind").fetchall()
    con.close()
    assert batches == [
        ("complaints", data.complaints.height, data.complaints.height, 0),
        ("surveys", data.surveys.height, data.surveys.height, 0),
        ("tickets", data.tickets.height, data.tickets.height, 0),
    ]
    assert not db.with_name(db.name + ".building").exists()


def test_truth_file_lists_every_crisis_type_with_segment_and_dates(demo):
    _, truth, summary = demo
    crises = json.loads(truth.read_text())
    assert len(crises) == summary["crises"] >= 8
    assert {c["type"] for c in crises} == {
        "service_quality",
        "communication_failure",
        "sudden_event",
        "customer_satisfaction",
    }
    for crisis in crises:
        assert crisis["segment"] and crisis["dimension"] and crisis["start"] <= crisis["end"]


def test_demo_command_refuses_to_replace_a_warehouse(demo):
    db, _, _ = demo
    result = run_cli("demo", "--db", str(db))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"csat-radar: {db}: warehouse already exists; pass --force to replace it with demo data"
    )
