"""The real exports in ../shared/data/real ingest through built-in profiles with no --map."""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.ingest import ingest_file

pytestmark = pytest.mark.real

CASES = [
    # folder, kind, profile, rows read, keys stored
    ("cfpb-complaints-sample-tgschwartz", "complaints", "cfpb", 6623, 6623),
    ("comcast-fcc-complaints-2015", "complaints", "comcast_fcc", 2224, 2224),
    ("servicenow-incident-event-log-subset", "tickets", "servicenow", 5998, 890),
    ("chinese-car-complaints-gbk", "complaints", "car_complaints_cn", 600, 600),
]


def only_file(folder):
    files = sorted(folder.glob("*.csv"))
    assert len(files) == 1
    return files[0]


@pytest.mark.parametrize(("folder", "kind", "profile", "rows_read", "stored"), CASES)
def test_real_export_loads_completely(con, real_dir, folder, kind, profile, rows_read, stored):
    result = ingest_file(con, only_file(real_dir / folder), kind, source_tz="UTC")
    assert result.profile == profile
    assert result.rows_read == rows_read
    assert result.rows_rejected == 0, result.rejections
    assert result.rows_loaded == stored
    assert result.rows_loaded + result.rows_updated + result.rows_duplicate == rows_read
    table = "tickets" if kind == "tickets" else "complaints"
    assert con.sql(f"SELECT count(*) FROM {table}").fetchall() == [(stored,)]


def test_cfpb_dates_products_and_multiline_narratives(con, real_dir):
    ingest_file(con, only_file(real_dir / CASES[0][0]), "complaints", source_tz="UTC")
    span = con.sql("SELECT min(created_at)::DATE::VARCHAR, max(created_at)::DATE::VARCHAR FROM complaints").fetchall()
    assert span[0][0].startswith("2015-04") and span[0][1].startswith("2020-03")
    assert con.sql("SELECT count(*) FROM complaints WHERE text LIKE '%\n%'").fetchall()[0][0] > 0
    assert con.sql("SELECT count(DISTINCT status) FROM complaints").fetchall()[0][0] >= 2


def test_comcast_joins_date_and_12_hour_time(con, real_dir):
    ingest_file(con, only_file(real_dir / CASES[1][0]), "complaints", source_tz="UTC")
    row = con.sql(
        "SELECT strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') FROM complaints "
        "WHERE complaint_id = '250635'"
    ).fetchall()
    assert row == [("2015-04-22 15:53:50",)]
    june = con.sql("SELECT count(*) FROM complaints WHERE month(created_at AT TIME ZONE 'UTC') = 6").fetchall()[0][0]
    may = con.sql("SELECT count(*) FROM complaints WHERE month(created_at AT TIME ZONE 'UTC') = 5").fetchall()[0][0]
    assert june > 2 * may  # the June burst the README describes


def test_servicenow_latest_state_wins(con, real_dir):
    ingest_file(con, only_file(real_dir / CASES[2][0]), "tickets", source_tz="UTC")
    row = con.sql(
        """SELECT status, strftime(created_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M'),
                  strftime(closed_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M')
           FROM tickets WHERE ticket_id = 'INC0000045'"""
    ).fetchall()
    assert row == [("closed", "2016-02-29 01:16", "2016-03-05 12:00")]
    assert con.sql("SELECT count(*) FROM tickets WHERE team IS NULL").fetchall()[0][0] < 890


def test_chinese_values_survive_gbk(con, real_dir):
    result = ingest_file(con, only_file(real_dir / CASES[3][0]), "complaints", source_tz="Asia/Shanghai")
    assert result.encoding == "gb18030"
    row = con.sql("SELECT text, product, category, status FROM complaints WHERE complaint_id = '482028'").fetchall()
    assert row == [("一汽马自达阿特兹B柱异响 车内异响严重", "阿特兹", "H93", "open")]
    assert con.sql("SELECT attributes->>'brand' FROM complaints WHERE complaint_id='482028'").fetchall() == [
        ("一汽马自达",)
    ]


def test_twitter_threads_become_tickets_with_first_responses(con, real_dir):
    result = ingest_file(con, only_file(real_dir / "twitter-customer-support-twcs-sample"), "tickets", source_tz="UTC")
    assert result.profile == "twitter_support"
    assert result.rows_read == 5000
    assert result.rows_loaded + result.rows_updated + result.rows_duplicate + result.rows_rejected == 5000
    tickets, answered = con.sql("SELECT count(*), count(first_response_at) FROM tickets").fetchall()[0]
    assert tickets == result.rows_loaded == 1285
    assert answered > 0.8 * tickets
    assert set(result.rejections) == {
        "thread opened by the company, not by a customer",
        "reply to message which is not in this file",
    }
    # Thread 1000 opens at 21:46:51, the customer adds tweet 999, AmericanAir answers it at 22:12:14.
    row = con.sql(
        "SELECT customer_id, team, epoch(first_response_at) - epoch(created_at) FROM tickets WHERE ticket_id = '1000'"
    ).fetchall()
    assert row == [("115904", "AmericanAir", 25 * 60 + 23)]
    # The tweet whose text holds a bare carriage return is one record, not two.
    assert con.sql("SELECT count(*) FROM rejected_rows WHERE raw_record->>'tweet_id' = '3399'").fetchall() == [(0,)]


def test_each_real_export_twice_changes_nothing(con, real_dir):
    path = only_file(real_dir / CASES[2][0])
    ingest_file(con, path, "tickets", source_tz="UTC")
    before = con.sql("SELECT * EXCLUDE (batch_id) FROM tickets ORDER BY ticket_id").fetchall()
    again = ingest_file(con, path, "tickets", source_tz="UTC")
    assert again.rows_duplicate == 5998
    assert con.sql("SELECT * EXCLUDE (batch_id) FROM tickets ORDER BY ticket_id").fetchall() == before


def test_the_car_complaints_resaved_with_the_id_column_empty_load_every_row_once(con, real_dir, tmp_path):
    """As someone else re-saved it (issue 19): UTF-8 with a BOM, the columns reversed, the ids blanked."""
    original = only_file(real_dir / "chinese-car-complaints-gbk")
    frame = pl.read_csv(original.read_bytes().decode("gb18030").encode(), infer_schema=False)
    resaved = frame.with_columns(pl.lit(None, dtype=pl.String).alias("id")).select(reversed(frame.columns))
    path = tmp_path / "car_complain_resaved.csv"
    path.write_bytes(b"\xef\xbb\xbf" + resaved.write_csv().encode())
    first = ingest_file(con, path, "complaints", source_tz="Asia/Shanghai")
    assert (first.rows_read, first.rows_loaded, first.rows_rejected, first.keys_derived) == (600, 600, 0, 600)
    again = ingest_file(con, path, "complaints", source_tz="Asia/Shanghai")
    assert (again.rows_loaded, again.rows_updated, again.rows_duplicate, again.rows_rejected) == (0, 0, 600, 0)
    assert con.sql("SELECT count(*) FROM complaints").fetchall() == [(600,)]
