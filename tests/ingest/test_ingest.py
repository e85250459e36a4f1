"""Ingestion end to end on hand-made exports: nothing lost, idempotent, one transaction per file."""

from __future__ import annotations

import pytest

from pipelines import load
from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.read import stream
from tests.conftest import write

TICKETS = """ticket id,created at,first response at,resolved at,status,channel,team,reopen count,language
T1,2026-03-02 09:00,2026-03-02 09:20,2026-03-02 15:00,solved,email,Billing,0,en
T2,2026-03-02 10:00,2026-03-02 10:05,2026-03-01 11:00,solved,chat,Billing,0,en
T3,31/02/2026 10:00,,,open,chat,Billing,0,en
T4,2026-03-03 08:00,,,open,phone,Technical,two,de
,2026-03-03 09:00,,,open,phone,Technical,0,en
T5,2026-03-03 09:30,2026-03-03 09:10,,open,phone,Technical,0,en
T1,2026-03-02 09:00,2026-03-02 09:20,2026-03-02 15:00,solved,email,Billing,0,en
T6,2026-03-04 12:00,2026-03-04 12:45,,pending,web,Technical,1,zh
"""


@pytest.fixture(autouse=True, params=["whole file", "streamed in parts of two"])
def reading(request, monkeypatch):
    """Every test here runs twice: as a small file read whole, and streamed as a large file would be."""
    if request.param.startswith("streamed"):
        monkeypatch.setattr(stream, "STREAM_BYTES", 0)
        monkeypatch.setattr(stream, "STREAM_ROWS", 2)
    return request.param


def table_snapshot(con, table):
    return con.sql(f"SELECT * EXCLUDE (batch_id) FROM {table} ORDER BY ALL").fetchall()


def test_every_row_is_loaded_duplicate_or_rejected_with_a_reason(con, tmp_path):
    result = ingest_file(con, write(tmp_path / "tickets.csv", TICKETS), "tickets", source_tz="UTC")
    assert result.rows_read == 8
    assert (result.rows_loaded, result.rows_updated, result.rows_duplicate, result.rows_rejected) == (
        3,
        0,
        1,
        4,
    )
    assert result.keys_derived == 1  # line 6 has no ticket id: keyed by its content, not rejected
    assert result.rows_read == result.rows_loaded + result.rows_updated + result.rows_duplicate + result.rows_rejected
    rejected = con.sql("SELECT line_number, reason FROM rejected_rows ORDER BY line_number").fetchall()
    assert rejected == [
        (3, "resolved_at before created_at"),
        (4, "unparseable date '31/02/2026 10:00' in created_at"),
        (5, "reopen_count 'two' is not a whole number"),
        (7, "first_response_at before created_at"),
    ]
    assert result.rejections == {
        "resolved_at before created_at": 1,
        "unparseable date in created_at": 1,
        "reopen_count is not a whole number": 1,
        "first_response_at before created_at": 1,
    }
    raw = con.sql(
        "SELECT raw_record->>'ticket id', raw_record->>'reopen count' FROM rejected_rows WHERE line_number = 5"
    )
    assert raw.fetchall() == [("T4", "two")]
    assert con.sql("SELECT ticket_id FROM tickets WHERE ticket_id NOT LIKE 'derived:%' ORDER BY 1").fetchall() == [
        ("T1",),
        ("T6",),
    ]
    assert con.sql("SELECT channel FROM tickets WHERE ticket_id LIKE 'derived:%'").fetchall() == [("phone",)]


def test_extra_source_columns_are_kept_as_attributes(con, tmp_path):
    ingest_file(con, write(tmp_path / "tickets.csv", TICKETS), "tickets", source_tz="UTC")
    assert con.sql("SELECT attributes->>'language' FROM tickets WHERE ticket_id = 'T6'").fetchall() == [("zh",)]


def test_the_same_file_twice_changes_nothing(con, tmp_path):
    path = write(tmp_path / "tickets.csv", TICKETS)
    ingest_file(con, path, "tickets", source_tz="UTC")
    before = table_snapshot(con, "tickets")
    again = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (again.rows_loaded, again.rows_updated, again.rows_duplicate, again.rows_rejected) == (0, 0, 4, 4)
    assert table_snapshot(con, "tickets") == before


def test_a_newer_export_updates_the_tickets_it_repeats(con, tmp_path):
    ingest_file(con, write(tmp_path / "monday.csv", TICKETS), "tickets", source_tz="UTC")
    newer = """ticket id,created at,first response at,resolved at,status,channel,team,reopen count,language
T6,2026-03-04 12:00,2026-03-04 12:45,2026-03-05 10:00,solved,web,Technical,1,zh
T7,2026-03-05 08:00,2026-03-05 08:30,,open,email,Billing,0,en
T1,2026-03-02 09:00,2026-03-02 09:20,2026-03-02 15:00,solved,email,Billing,0,en
"""
    result = ingest_file(con, write(tmp_path / "tuesday.csv", newer), "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_updated, result.rows_duplicate, result.rows_rejected) == (
        1,
        1,
        1,
        0,
    )
    assert con.sql("SELECT status, resolved_at IS NOT NULL FROM tickets WHERE ticket_id = 'T6'").fetchall() == [
        ("resolved", True)
    ]
    assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(4,)]  # T1, T6, T7 and the one without an id


def test_a_failure_mid_file_leaves_the_warehouse_as_it_was(con, tmp_path, monkeypatch):
    ingest_file(con, write(tmp_path / "first.csv", TICKETS), "tickets", source_tz="UTC")
    before = {t: table_snapshot(con, t) for t in ("tickets", "batches", "rejected_rows")}
    newer = "ticket id,created at,status\nT8,2026-03-06 08:00,open\nT1,2026-03-02 09:00,closed\nT9,bad date,open\n"

    def fail_after_rows_were_written():
        raise OSError("disk full")

    # The batch record is written after the tickets and rejected rows, so this fails mid-file.
    monkeypatch.setattr(load, "_current_user", fail_after_rows_were_written)
    with pytest.raises(OSError, match="disk full"):
        ingest_file(con, write(tmp_path / "second.csv", newer), "tickets", source_tz="UTC")
    assert {t: table_snapshot(con, t) for t in before} == before
    monkeypatch.undo()
    result = ingest_file(con, tmp_path / "second.csv", "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_updated, result.rows_rejected) == (1, 1, 1)


def test_event_log_collapses_to_the_latest_state(con, tmp_path):
    log = """number,incident_state,sys_mod_count,opened_at,sys_updated_at,resolved_at,priority
INC1,New,0,01-03-2026 09:00,01-03-2026 09:00,?,3 - Moderate
INC1,Resolved,2,01-03-2026 09:00,01-03-2026 15:00,01-03-2026 14:50,2 - High
INC1,Active,1,01-03-2026 09:00,01-03-2026 11:00,?,2 - High
INC2,New,0,13-03-2026 10:00,13-03-2026 10:00,?,4 - Low
INC2,New,0,13-03-2026 10:00,13-03-2026 10:00,?,4 - Low
"""
    result = ingest_file(con, write(tmp_path / "log.csv", log), "tickets", source_tz="UTC")
    assert result.profile == "servicenow"
    assert (result.rows_loaded, result.rows_updated, result.rows_duplicate) == (2, 2, 1)
    rows = con.sql("SELECT ticket_id, status, priority, resolved_at FROM tickets ORDER BY 1").fetchall()
    assert [(r[0], r[1], r[2], r[3] is not None) for r in rows] == [
        ("INC1", "resolved", "2 - High", True),
        ("INC2", "open", "4 - Low", False),
    ]


def test_surveys_with_mixed_scales_and_labels(con, tmp_path):
    surveys = """response id,ticket id,answered at,score,scale,comment
S1,T1,2026-03-02,5,1-5,great
S2,T2,2026-03-02,4,1-5,
S3,T3,2026-03-02,7,1-5,typo?
S4,T4,2026-03-03,9,0-10,
S5,T5,2026-03-03,8,0-10,
S6,T6,2026-03-03,非常满意,,很好
S7,T7,2026-03-03,不满意,,
S8,T8,2026-03-03,,1-5,
S9,T9,2026-03-04,6,1-7,
S10,T10,2026-03-04,3,stars,
"""
    result = ingest_file(
        con,
        write(tmp_path / "s.csv", surveys),
        "surveys",
        source_tz="UTC",
        mapping={"responded_at": "answered at"},
    )
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (10, 7, 3)
    reasons = con.sql("SELECT line_number, reason FROM rejected_rows ORDER BY 1").fetchall()
    assert reasons == [
        (4, "score '7' outside scale 1-5"),
        (9, "no survey answer (score is empty)"),
        (11, "unknown scale 'stars'"),
    ]
    rows = con.sql(
        "SELECT response_id, score, scale, is_satisfied, survey_type FROM survey_responses ORDER BY response_id"
    ).fetchall()
    assert rows == [
        ("S1", 5.0, "1-5", True, "csat"),
        ("S2", 4.0, "1-5", True, "csat"),
        ("S4", 9.0, "0-10", True, "nps"),
        ("S5", 8.0, "0-10", False, "nps"),
        ("S6", 5.0, "1-5", True, "csat"),
        ("S7", 2.0, "1-5", False, "csat"),
        ("S9", 6.0, "1-7", True, "csat"),
    ]


def test_map_override_and_profile_choice(con, tmp_path):
    odd = "Ref,Opened On,Customer Mood\nR1,2026-02-01 10:00,happy\n"
    with pytest.raises(IngestError, match="no column for ticket_id"):
        ingest_file(con, write(tmp_path / "odd.csv", odd), "tickets", source_tz="UTC")
    result = ingest_file(
        con,
        tmp_path / "odd.csv",
        "tickets",
        source_tz="UTC",
        mapping={"ticket_id": "Ref", "created_at": "Opened On"},
    )
    assert result.rows_loaded == 1
    assert con.sql("SELECT attributes->>'Customer Mood' FROM tickets").fetchall() == [("happy",)]
    with pytest.raises(IngestError, match="no column 'Nope' in the file"):
        ingest_file(con, tmp_path / "odd.csv", "tickets", mapping={"ticket_id": "Nope"})
    with pytest.raises(IngestError, match="unknown profile 'acme'"):
        ingest_file(con, tmp_path / "odd.csv", "tickets", profile="acme")


def test_unknown_time_zone_is_a_clear_error(con, tmp_path):
    with pytest.raises(IngestError, match="unknown time zone 'Mars/Base'"):
        ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="Mars/Base")
    assert con.sql("SELECT count(*) FROM batches").fetchall() == [(0,)]


def test_batch_records_what_was_used(con, tmp_path):
    path = write(tmp_path / "t.csv", TICKETS, encoding="gb18030")
    result = ingest_file(con, path, "tickets", source_tz="Asia/Shanghai")
    row = con.sql(
        """SELECT file_name, kind, profile, encoding, source_tz, rows_read, rows_loaded, rows_rejected,
                  keys_derived, mapping->'columns'->>'created_at' FROM batches WHERE batch_id = ?""",
        params=[result.batch_id],
    ).fetchall()
    assert row == [("t.csv", "tickets", "generic", "utf-8", "Asia/Shanghai", 8, 3, 4, 1, '["created at"]')]
    # 09:00 in Shanghai is 01:00 UTC.
    assert con.sql("SELECT hour(created_at AT TIME ZONE 'UTC') FROM tickets WHERE ticket_id='T1'").fetchall() == [(1,)]


def test_a_record_wider_than_the_header_is_rejected_not_truncated(con, tmp_path):
    text = (
        "ticket id,created at,status\n"
        "T1,2026-03-02 09:00,open\nT2,2026-03-02 10:00,open,surplus\nT3,2026-03-02 11:00,open\n"
    )
    result = ingest_file(con, write(tmp_path / "wide.csv", text), "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    assert con.sql("SELECT line_number, reason, raw_record FROM rejected_rows").fetchall() == [
        (3, "record has 4 fields, the header has 3", '["T2", "2026-03-02 10:00", "open", "surplus"]')
    ]


def test_header_only_export_is_an_empty_batch(con, tmp_path):
    result = ingest_file(con, write(tmp_path / "none.csv", "ticket id,created at,status\n"), "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (0, 0, 0)
    assert con.sql("SELECT rows_read FROM batches").fetchall() == [(0,)]


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16", "utf-8-sig"])
def test_every_encoding_loads_the_same_records(con, tmp_path, encoding):
    text = "工单号,创建时间,渠道\nT1,2026-03-02 09:00,电话\nT2,2026-03-02 10:00,邮件\nT3,2026-03-03 08:00,电话\n"
    result = ingest_file(con, write(tmp_path / "工单.csv", text, encoding), "tickets", source_tz="Asia/Shanghai")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 3, 0)
    assert con.sql("SELECT ticket_id, channel FROM tickets ORDER BY 1").fetchall() == [
        ("T1", "电话"), ("T2", "邮件"), ("T3", "电话"),
    ]  # fmt: skip
    assert con.sql("SELECT min(created_at) FROM tickets").fetchall()[0][0].isoformat().startswith("2026-03-02T01:00")


def test_line_numbers_count_quoted_line_breaks_across_parts(con, tmp_path):
    text = (
        "ticket id,created at,status,note\n"
        'T1,2026-03-02 09:00,open,"two\nlines"\n'
        "T2,2026-03-02 10:00,open,x\n"
        'T3,2026-03-02 11:00,open,"three\nlines\nhere"\n'
        "T4,not a date,open,x\n"
        "T5,2026-03-02 12:00,open,x\n"
        "T6,also bad,open,x\n"
    )
    result = ingest_file(con, write(tmp_path / "notes.csv", text), "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (4, 2)
    assert con.sql("SELECT line_number FROM rejected_rows ORDER BY 1").fetchall() == [
        (8,),
        (10,),
    ]  # T4 starts on line 8 and T6 on line 10
