"""Rows without an id are loaded, keyed by their content; one survey answer on several tickets is one answer."""

from __future__ import annotations

import json

import pytest

from pipelines.ingest import ingest_file
from pipelines.read import stream
from tests.conftest import run_cli, write

# A car-complaint export re-saved by someone else: a BOM, the columns reordered, the id column empty.
COMPLAINTS = """\ufeffstatus,datetime,brand,id,car_model,problem,desc,type
处理完毕,2024-05-02 10:15:00,长安,,CS75,"A12,B03,",刹车异响,质量问题
信息审核,2024-05-03 08:00:00,吉利,,博越,C07,,质量问题
处理反馈,2024-05-03 09:30:00,长安,,CS55,A12,发动机抖动,服务问题
信息审核,2024-05-04 17:45:00,比亚迪,,宋,D01,车机死机,质量问题
处理完毕,2024-05-05 11:00:00,吉利,,帝豪,"B03,",油耗高,质量问题
"""


@pytest.fixture(params=["whole file", "streamed in parts of two"])
def reading(request, monkeypatch):
    """Each test runs twice: a small file read whole, and streamed in parts as a large file would be."""
    if request.param.startswith("streamed"):
        monkeypatch.setattr(stream, "STREAM_BYTES", 0)
        monkeypatch.setattr(stream, "STREAM_ROWS", 2)
    return request.param


def counts(result):
    return (result.rows_loaded, result.rows_updated, result.rows_duplicate, result.rows_rejected)


def test_complaints_with_an_empty_id_column_are_all_loaded_with_derived_keys(con, tmp_path, reading):
    result = ingest_file(con, write(tmp_path / "car.csv", COMPLAINTS), "complaints", source_tz="Asia/Shanghai")
    assert counts(result) == (5, 0, 0, 0)
    assert result.keys_derived == 5
    keys = [k for (k,) in con.sql("SELECT complaint_id FROM complaints ORDER BY complaint_id").fetchall()]
    assert len(set(keys)) == 5
    assert all(k.startswith("derived:") and len(k) == len("derived:") + 16 for k in keys)
    text = con.sql("SELECT text, product FROM complaints WHERE text = '发动机抖动'").fetchall()
    assert text == [("发动机抖动", "CS55")]
    assert con.sql("SELECT keys_derived FROM batches").fetchall() == [(5,)]


def test_loading_the_same_file_twice_gives_all_duplicates(con, tmp_path, reading):
    path = write(tmp_path / "car.csv", COMPLAINTS)
    ingest_file(con, path, "complaints", source_tz="Asia/Shanghai")
    before = con.sql("SELECT * EXCLUDE (batch_id) FROM complaints ORDER BY ALL").fetchall()
    again = ingest_file(con, path, "complaints", source_tz="Asia/Shanghai")
    assert counts(again) == (0, 0, 5, 0)
    assert again.rows_read == 5
    assert con.sql("SELECT * EXCLUDE (batch_id) FROM complaints ORDER BY ALL").fetchall() == before


def test_a_key_follows_the_content_not_the_spelling_or_the_column_order(con, tmp_path):
    """The same complaints re-saved with dates in another format and columns moved are the same complaints."""
    ingest_file(con, write(tmp_path / "car.csv", COMPLAINTS), "complaints", source_tz="Asia/Shanghai")
    resaved = """type,desc,id,problem,car_model,brand,datetime,status
质量问题,刹车异响,,"A12,B03,",CS75,长安,2024/05/02 10:15,处理完毕
质量问题,车机死机,,D01,宋,比亚迪,2024/05/04 17:45,信息审核
质量问题,新投诉,,E09,宋,比亚迪,2024/05/06 09:00,信息审核
"""
    result = ingest_file(con, write(tmp_path / "resaved.csv", resaved), "complaints", source_tz="Asia/Shanghai")
    assert result.rows_loaded == 1
    assert result.rows_loaded + result.rows_updated + result.rows_duplicate == 3
    assert con.sql("SELECT count(*) FROM complaints").fetchall() == [(6,)]


def test_two_identical_rows_without_an_id_are_one_complaint(con, tmp_path, reading):
    twice = COMPLAINTS + COMPLAINTS.splitlines()[3] + "\n"
    result = ingest_file(con, write(tmp_path / "car.csv", twice), "complaints", source_tz="Asia/Shanghai")
    assert counts(result) == (5, 0, 1, 0)
    assert con.sql("SELECT count(*) FROM complaints WHERE text = '发动机抖动'").fetchall() == [(1,)]


def test_a_ticket_without_an_id_beside_tickets_with_one_is_loaded(con, tmp_path):
    tickets = """Ticket,Opened,Channel
T1,2026-03-02 09:00,email
,2026-03-02 10:00,phone
,2026-03-02 11:00,phone
"""
    result = ingest_file(con, write(tmp_path / "tickets.csv", tickets), "tickets", source_tz="UTC",
                         mapping={"ticket_id": "Ticket", "created_at": "Opened", "channel": "Channel"})  # fmt: skip
    assert counts(result) == (3, 0, 0, 0)
    assert result.keys_derived == 2
    ids = con.sql("SELECT ticket_id FROM tickets WHERE ticket_id LIKE 'derived:%'").fetchall()
    assert len(ids) == 2


# One review covers several orders: the same answer id on two tickets.
SURVEYS = """Review,Order,Answered,Stars,Comment
R1,O-100,2026-04-01 12:00,2,late and broken
R1,O-101,2026-04-01 12:00,2,late and broken
R2,O-102,2026-04-02 09:00,5,great
"""


def test_one_answer_on_two_tickets_is_loaded_once_linked_to_the_first(con, tmp_path, reading):
    mapping = {"response_id": "Review", "ticket_id": "Order", "responded_at": "Answered", "score": "Stars",
               "comment": "Comment"}  # fmt: skip
    path = write(tmp_path / "reviews.csv", SURVEYS)
    result = ingest_file(con, path, "surveys", source_tz="UTC", mapping=mapping)
    assert counts(result) == (2, 0, 1, 0)
    answers = con.sql("SELECT response_id, ticket_id, score FROM survey_responses ORDER BY response_id").fetchall()
    assert answers == [("R1", "O-100", 2.0), ("R2", "O-102", 5.0)]
    again = ingest_file(con, path, "surveys", source_tz="UTC", mapping=mapping)
    assert counts(again) == (0, 0, 3, 0)


def test_an_answer_whose_tickets_are_parts_apart_is_linked_to_its_first_line(con, tmp_path, monkeypatch):
    """Streamed in parts of two lines, the answer's second ticket comes in a later part than its first."""
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setattr(stream, "STREAM_ROWS", 2)
    apart = """Review,Order,Answered,Stars
R1,O-100,2026-04-01 12:00,2
R2,O-102,2026-04-02 09:00,5
R3,O-103,2026-04-02 10:00,4
R1,O-101,2026-04-01 12:00,2
"""
    mapping = {"response_id": "Review", "ticket_id": "Order", "responded_at": "Answered", "score": "Stars"}
    result = ingest_file(con, write(tmp_path / "reviews.csv", apart), "surveys", source_tz="UTC", mapping=mapping)
    assert counts(result) == (3, 0, 1, 0)
    assert con.sql("SELECT ticket_id FROM survey_responses WHERE response_id = 'R1'").fetchall() == [("O-100",)]


def test_one_answer_id_with_two_different_scores_is_still_rejected(con, tmp_path):
    conflicting = SURVEYS.replace("R1,O-101,2026-04-01 12:00,2", "R1,O-101,2026-04-01 12:00,4")
    mapping = {"response_id": "Review", "ticket_id": "Order", "responded_at": "Answered", "score": "Stars"}
    result = ingest_file(con, write(tmp_path / "reviews.csv", conflicting), "surveys", source_tz="UTC", mapping=mapping)
    assert counts(result) == (1, 0, 0, 2)
    assert result.rejections == {"response_id is on lines 2, 3 with different values": 2}


def test_the_ingest_command_says_how_many_keys_were_derived(tmp_path):
    path = write(tmp_path / "car.csv", COMPLAINTS)
    db = str(tmp_path / "warehouse.duckdb")
    done = run_cli("ingest", str(path), "--kind", "complaints", "--tz", "Asia/Shanghai", "--json", "--db", db)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.splitlines()[0])
    assert (record["rows_read"], record["rows_loaded"], record["keys_derived"]) == (5, 5, 5)
    again = run_cli("ingest", str(path), "--kind", "complaints", "--tz", "Asia/Shanghai", "--db", db)
    assert again.returncode == 0, again.stderr
    assert "5 duplicate, 0 rejected" in again.stdout
    assert "5 rows had no complaint_id: each is keyed by its content (derived:…)" in again.stdout
