"""Columns found the way a person finds them: headers in any case or separator, usual names, and values."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file, preview_file
from pipelines.read import stream
from pipelines.read.export import read_export
from pipelines.read.raw import LINE
from pipelines.stage.matching import guess_columns
from pipelines.stage.profiles import choose_profile, header_key
from tests.conftest import FIXTURES, write


def test_header_spellings_a_person_reads_as_one_are_one():
    keys = {
        header_key(h) for h in ("Date received", "date_received", "DATE-RECEIVED", "dateReceived", " Date.Received ")
    }
    assert keys == {"datereceived"}
    assert header_key("Ticket #") == header_key("ticket")
    assert header_key("工单号") == "工单号"


CFPB_LIKE = (
    "date_received,PRODUCT,sub-product,ISSUE,sub_issue,consumer_complaint_narrative,"
    "company_response_to_consumer,TIMELY_RESPONSE,consumer_disputed,SUBMITTED_VIA,state,complaint_id\n"
    "2026-03-02,Mortgage,FHA,Trouble paying,Late fee,,Closed with explanation,Yes,No,Web,CA,8100001\n"
    "2026-03-02,Credit card,Store card,Billing dispute,Wrong amount,They charged twice,"
    "In progress,Yes,,Phone,NY,8100002\n"
    "2026-03-03,Mortgage,Conventional,Trouble paying,Escrow,,Closed with monetary relief,No,No,Referral,TX,8100003\n"
)


def test_cfpb_like_export_spelled_in_another_case_and_separator_loads_without_help(con, tmp_path):
    path = write(tmp_path / "complaints_snake.csv", CFPB_LIKE)
    assert choose_profile("complaints", read_export(path).source_columns, path.name).name == "cfpb"
    result = ingest_file(con, path, "complaints", source_tz="UTC")
    assert (result.profile, result.rows_loaded, result.rows_rejected) == ("cfpb", 3, 0)
    rows = con.sql(
        "SELECT complaint_id, strftime(created_at, '%Y-%m-%d'), status, channel, region FROM complaints"
    ).pl()
    assert sorted(rows.rows()) == [
        ("8100001", "2026-03-02", "closed", "Web", "CA"),
        ("8100002", "2026-03-02", "open", "Phone", "NY"),
        ("8100003", "2026-03-03", "closed", "Referral", "TX"),
    ]


SERVICE_REQUESTS = (
    "Unique Key,Created Date,Closed Date,Agency,Agency Name,Complaint Type,Descriptor,Status,Borough\n"
    "60100001,01/05/2026 08:15:00 AM,01/05/2026 11:40:00 AM,NYPD,Police Department"
    ",Noise - Residential,Loud Music,Closed,BROOKLYN\n"
    "60100002,01/05/2026 09:02:00 AM,,DOT,Department of Transportation,Street Condition,Pothole,Open,QUEENS\n"
    "60100003,01/06/2026 02:30:00 PM,01/08/2026 10:00:00 AM,DSNY,Department of Sanitation"
    ",Missed Collection,Trash,Closed,BRONX\n"
    "60100004,01/06/2026 03:45:00 PM,01/06/2026 04:10:00 PM,NYPD,Police Department"
    ",Illegal Parking,Blocked Driveway,Closed,MANHATTAN\n"
    "60100005,01/07/2026 07:00:00 AM,,HPD,Housing Preservation,HEAT/HOT WATER,Entire Building,Open,BROOKLYN\n"
    "60100006,01/13/2026 10:20:00 AM,01/14/2026 09:00:00 AM,DOT,Department of Transportation"
    ",Street Light Condition,Out,Closed,QUEENS\n"
)


def test_a_311_export_loads_as_tickets_its_id_found_by_values(con, tmp_path):
    path = write(tmp_path / "311_service_requests.csv", SERVICE_REQUESTS)
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (6, 0)
    rows = con.sql(
        "SELECT ticket_id, strftime(created_at, '%Y-%m-%d %H:%M'), strftime(closed_at, '%Y-%m-%d %H:%M'),"
        " team, category, region "
        "FROM tickets WHERE ticket_id IN ('60100001', '60100002')"
    ).pl()
    assert sorted(rows.rows()) == [
        ("60100001", "2026-01-05 08:15", "2026-01-05 11:40", "NYPD", "Noise - Residential", "BROOKLYN"),
        ("60100002", "2026-01-05 09:02", None, "DOT", "Street Condition", "QUEENS"),
    ]
    mapping = con.sql("SELECT mapping FROM batches").fetchall()[0][0]
    assert "Unique Key" in str(mapping)
    (guess,) = [g for g in guess_columns(read_export(path), "tickets", {}) if g.column == "ticket_id"]
    assert guess.source == "Unique Key" and guess.confident
    assert "no two are alike" in guess.reason and "reads as an identifier" in guess.reason


# Nothing here has a usual name: the id, the opening and the closing are found by their values alone.
UNNAMED = (
    "Tracking,Began,Finished,Desk,Summary\n"
    "TRK-88121,2026-04-01 09:00,2026-04-01 12:00,North,Printer jams on tray two\n"
    "TRK-88122,2026-04-01 10:30,,South,Password reset loop\n"
    "TRK-88130,2026-04-02 08:10,2026-04-03 08:00,North,Invoice shows wrong VAT\n"
    "TRK-88131,2026-04-02 16:45,2026-04-02 17:05,East,Cannot log in from phone\n"
    "TRK-88140,2026-04-03 11:00,2026-04-04 09:30,South,Refund not received yet\n"
)


def test_an_id_column_of_another_name_is_found_by_its_unique_values_with_the_reason(con, tmp_path):
    path = write(tmp_path / "desk_export.csv", UNNAMED)
    guesses = {g.column: g for g in guess_columns(read_export(path), "tickets", {})}
    assert guesses["ticket_id"].source == "Tracking" and guesses["ticket_id"].confident
    assert guesses["ticket_id"].reason.startswith("every one of its 5 rows has a value and no two are alike")
    assert guesses["created_at"].source == "Began" and "never after 'Finished'" in guesses["created_at"].reason
    assert guesses["closed_at"].source == "Finished" and "empty on 1 row(s)" in guesses["closed_at"].reason
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (5, 0)
    assert con.sql("SELECT count(*) FROM tickets WHERE closed_at IS NULL AND ticket_id = 'TRK-88122'").fetchall() == [
        (1,)
    ]


def test_survey_score_found_by_whole_numbers_one_to_five(con, tmp_path):
    text = "Answer Ref,When,Stars Given,Said\n" + "".join(
        f"A-{n},2026-05-0{n} 10:00,{s},{word}\n"
        for n, s, word in [(1, 5, "great"), (2, 4, "fine"), (3, 1, "awful"), (4, 5, "great"), (5, 3, "meh")]
    )
    path = write(tmp_path / "answers.csv", text)
    guesses = {g.column: g for g in guess_columns(read_export(path), "surveys", {})}
    assert guesses["score"].source == "Stars Given" and "from 1 to 5" in guesses["score"].reason
    result = ingest_file(con, path, "surveys", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (5, 0)
    assert con.sql("SELECT sum(score) FROM survey_responses").fetchall() == [(18.0,)]


def test_without_a_confident_guess_the_error_lists_the_files_columns_not_flags(con, tmp_path):
    # Two unique columns, neither named like an id: the values cannot decide which is the ticket.
    text = "Subject,Opened On,Mood\n" + "".join(f"s{n},2026-02-0{n} 10:00,m{n}\n" for n in range(1, 7))
    path = write(tmp_path / "unclear.csv", text)
    with pytest.raises(IngestError) as caught:
        ingest_file(con, path, "tickets", source_tz="UTC")
    message = str(caught.value)
    assert "no column for ticket_id" in message and "--map" not in message
    assert "the file's columns are: 'Subject', 'Opened On', 'Mood'" in message
    assert "perhaps 'Subject'" in message


def test_a_large_file_reads_every_part_with_the_columns_its_first_part_showed(con, tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setattr(stream, "STREAM_ROWS", 5)  # parts of 5, 5 and 2 rows: the last too small to guess from
    rows = "".join(f"TRK-{9000 + n},2026-04-{n:02d} 09:00,2026-04-{n:02d} 17:00,North,Case {n}\n" for n in range(1, 13))
    path = write(tmp_path / "desk_large.csv", "Tracking,Began,Finished,Desk,Summary\n" + rows)
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (12, 12, 0)
    assert con.sql("SELECT min(ticket_id), max(ticket_id), count(closed_at) FROM tickets").fetchall() == [
        ("TRK-9001", "TRK-9012", 12)
    ]


def test_an_orders_file_without_a_count_column_is_told_its_columns(con, tmp_path):
    path = write(tmp_path / "orders.csv", "Date,Shop\n2026-02-01,North\n2026-02-02,South\n")
    with pytest.raises(IngestError) as caught:
        ingest_file(con, path, "orders", source_tz="UTC")
    assert str(caught.value) == (
        "orders.csv: no column for orders (profile generic); the file's columns are: 'Date', 'Shop'"
    )


def test_a_survey_file_without_a_score_is_told_its_columns_and_the_unsure_guesses(con, tmp_path):
    # Two columns of whole numbers 1-5: the values cannot tell which one is the rating.
    text = "Answer Ref,When,Q1,Q2\n" + "".join(f"A-{n},2026-05-0{n} 10:00,{n},{6 - n}\n" for n in range(1, 6))
    path = write(tmp_path / "two_scores.csv", text)
    with pytest.raises(IngestError) as caught:
        ingest_file(con, path, "surveys", source_tz="UTC")
    message = str(caught.value)
    assert "no column for score" in message and "--map" not in message
    assert "perhaps 'Q1' (whole numbers from 1 to 5 only, as a 1-5 rating)" in message


def test_a_tool_profile_reads_only_its_own_columns_and_a_generic_file_its_usual_names(con, tmp_path):
    freshdesk = read_export(FIXTURES / "profiles" / "freshdesk.csv")
    path = tmp_path / "freshdesk_with_borough.csv"
    freshdesk.frame.drop(LINE).with_columns(pl.lit("QUEENS").alias("Borough")).write_csv(path)
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert result.profile == "freshdesk"
    assert con.sql("SELECT DISTINCT region, attributes->>'Borough' FROM tickets").fetchall() == [(None, "QUEENS")]
    generic = write(tmp_path / "generic.csv", "Ticket ID,Created Date,Borough\nT1,2026-03-01 10:00,BRONX\n")
    ingest_file(con, generic, "tickets", source_tz="UTC")
    assert con.sql("SELECT region FROM tickets WHERE ticket_id = 'T1'").fetchall() == [("BRONX",)]


def test_a_shop_review_export_loads_as_survey_answers_without_help(con, tmp_path):
    text = (
        "review_id,order_id,review_score,review_comment_title,review_comment_message,"
        "review_creation_date,review_answer_timestamp\n"
        "rv01,or01,5,,Arrived early,2026-03-01 00:00:00,2026-03-02 10:15:00\n"
        "rv02,or02,1,Late,Never arrived,2026-03-01 00:00:00,2026-03-04 18:40:00\n"
        "rv03,or03,4,,,2026-03-02 00:00:00,2026-03-02 21:05:00\n"
    )
    result = ingest_file(con, write(tmp_path / "order_reviews.csv", text), "surveys", source_tz="UTC")
    assert (result.profile, result.rows_loaded, result.rows_rejected) == ("generic", 3, 0)
    rows = con.sql(
        "SELECT response_id, score, strftime(responded_at, '%Y-%m-%d %H:%M'), comment FROM survey_responses"
    ).fetchall()
    assert sorted(rows) == [
        ("rv01", 5.0, "2026-03-02 10:15", "Arrived early"),
        ("rv02", 1.0, "2026-03-04 18:40", "Never arrived"),
        ("rv03", 4.0, "2026-03-02 21:05", None),
    ]


def test_of_several_unique_columns_the_one_named_like_an_id_is_the_id(tmp_path):
    text = "Note,caseRef,Logged\n" + "".join(f"n{n},C{n}77,2026-02-0{n} 10:00\n" for n in range(1, 7))
    guesses = [g for g in guess_columns(read_export(write(tmp_path / "cases.csv", text)), "tickets", {})]
    (key,) = [g for g in guesses if g.column == "ticket_id"]
    assert (key.source, key.confident) == ("caseRef", True)
    assert "its name reads as an identifier; 1 other column(s) are unique too" in key.reason


def test_the_preview_shows_each_guessed_column_with_its_reason(tmp_path):
    preview = preview_file(UNNAMED.encode(), "tickets", "desk_export.csv", source_tz="UTC")
    assert preview.mapping["ticket_id"] == ["Tracking"] and preview.rows_valid == 5
    shown = {g.column: (g.source, g.confident) for g in preview.guesses}
    assert shown == {"ticket_id": ("Tracking", True), "created_at": ("Began", True), "closed_at": ("Finished", True)}
    assert all(g.reason for g in preview.guesses)


# A city's case export: its segments named with a qualifier ("Responsible Agency"), a point as
# "Location", and columns ending in vague words ("Location Type", "Bridge Highway Segment").
CITY_CASES = (
    "Case Ref,Opened On,Responsible Agency,Open Data Channel Type,Location Type,Bridge Highway Segment,"
    "Location,Neighbourhood,Borough\n"
    + "".join(
        f'CR-{n},2026-02-0{n} 09:00,Parks Dept,{channel},Street,,"(40.6{n}, -73.9{n})",Astoria,QUEENS\n'
        for n, channel in [(1, "PHONE"), (2, "ONLINE"), (3, "MOBILE"), (4, "PHONE"), (5, "ONLINE")]
    )
)


def test_a_header_qualifying_a_usual_name_is_read_as_that_segment_and_a_vague_ending_is_not(con, tmp_path):
    path = write(tmp_path / "city_cases.csv", CITY_CASES)
    guesses = {g.column: g for g in guess_columns(read_export(path), "tickets", {})}
    assert guesses["team"].source == "Responsible Agency" and guesses["team"].confident
    assert guesses["channel"].source == "Open Data Channel Type"
    assert guesses["channel"].reason == "'Open Data Channel Type' ends in 'channel type', a usual name for channel"
    assert "category" not in guesses and "customer_tier" not in guesses  # "... Type", "... Segment" say too little
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (5, 0)
    row = con.sql("SELECT team, channel, region, category FROM tickets WHERE ticket_id = 'CR-3'").fetchall()
    assert row == [("Parks Dept", "MOBILE", "QUEENS", None)]  # the borough, not the point, is the region


ORDER_REVIEWS = (
    "review_id,order_id,review_score,review_answer_timestamp\n"
    "rv1,o1,5,2026-03-02 10:00:00\n"
    "rv1,o2,5,2026-03-02 10:00:00\n"  # one review of an order shipped in two parts
    ",o3,2,2026-03-03 11:00:00\n"
    "rv4,o4,4,2026-03-04 12:00:00\n"
    "rv5,o5,3,2026-03-04 13:00:00\n"
)


def test_the_order_a_review_rates_is_its_ticket_so_a_review_of_two_orders_is_one_answer(con, tmp_path):
    result = ingest_file(con, write(tmp_path / "reviews.csv", ORDER_REVIEWS), "surveys", source_tz="UTC")
    assert (result.rows_loaded, result.rows_duplicate, result.rows_rejected, result.keys_derived) == (4, 1, 0, 1)
    assert con.sql("SELECT ticket_id FROM survey_responses WHERE response_id = 'rv1'").fetchall() == [("o1",)]


def test_an_order_column_is_never_a_tickets_own_id(con, tmp_path):
    text = "Ref,Order ID,Created,Subject\n" + "".join(
        f"T-{n},O-{n % 2},2026-03-0{n} 10:00,Where is my parcel\n" for n in range(1, 7)
    )
    result = ingest_file(con, write(tmp_path / "shop_tickets.csv", text), "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (6, 0)
    assert con.sql("SELECT count(DISTINCT ticket_id) FROM tickets WHERE ticket_id LIKE 'T-%'").fetchall() == [(6,)]


def test_plain_numbers_are_times_only_in_a_column_named_like_a_time(con, tmp_path):
    text = "Review Number,Time,Stars\n" + "".join(
        f"{1_830_000_000 + n * 97},{1_301_961_600 + n * 86_400},{n % 5 + 1}\n" for n in range(6)
    )
    guesses = {g.column: g for g in guess_columns(read_export(write(tmp_path / "r.csv", text)), "surveys", {})}
    assert guesses["responded_at"].source == "Time" and guesses["responded_at"].confident
    assert guesses["response_id"].source == "Review Number"  # ten digits too, but named as an id, not a time
    result = ingest_file(con, tmp_path / "r.csv", "surveys", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (6, 0)
    answered = "SELECT strftime(responded_at, '%Y-%m-%d') FROM survey_responses WHERE response_id = ?"
    assert con.execute(answered, ["1830000000"]).fetchall() == [("2011-04-05",)]
