"""Value parsing: dates decided per column, time zones, booleans, numbers and satisfaction scales."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from pipelines.stage import scales
from pipelines.stage.values import normalise_nulls, parse_booleans, parse_durations, parse_numbers, parse_timestamps


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def parse(values: list[str | None], tz: str = "UTC", order: str | None = None):
    return parse_timestamps(pl.Series("created_at", values, dtype=pl.String), "created_at", tz, order)


def test_one_day_above_12_makes_the_whole_column_day_first():
    result = parse(["03/04/2026", "05/06/2026", "25/12/2026"])
    assert result.date_order == "DMY"
    assert result.values.to_list() == [utc(2026, 4, 3), utc(2026, 6, 5), utc(2026, 12, 25)]


def test_one_day_above_12_in_second_place_makes_the_column_month_first():
    result = parse(["03/04/2026", "05/06/2026", "12/25/2026"])
    assert result.date_order == "MDY"
    assert result.values.to_list() == [utc(2026, 3, 4), utc(2026, 5, 6), utc(2026, 12, 25)]


def test_ambiguous_column_follows_the_stated_order():
    assert parse(["03/04/2026"], order="MDY").values.to_list() == [utc(2026, 3, 4)]
    assert parse(["03/04/2026"], order="DMY").values.to_list() == [utc(2026, 4, 3)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-04 15:07:09", utc(2026, 3, 4, 15, 7, 9)),
        ("2026-03-04T15:07:09Z", utc(2026, 3, 4, 15, 7, 9)),
        ("2026-03-04T15:07:09.250+08:00", utc(2026, 3, 4, 7, 7, 9, 250000)),
        ("22-Apr-15 3:53:50 PM", utc(2015, 4, 22, 15, 53, 50)),
        ("4/22/2015 3:53 am", utc(2015, 4, 22, 3, 53)),
        ("Tue Oct 31 22:10:47 +0000 2017", utc(2017, 10, 31, 22, 10, 47)),
        ("2020/6/8", utc(2020, 6, 8)),
        ("2020年6月8日", utc(2020, 6, 8)),
        ("29-02-2016 01:16", utc(2016, 2, 29, 1, 16)),
        ("05/Mar/24 5:42 PM", utc(2024, 3, 5, 17, 42)),  # Jira
    ],
)
def test_common_formats(text, expected):
    assert parse([text]).values.to_list() == [expected]


def test_excel_serial_dates():
    result = parse(["45658", "45658.5"])
    assert result.format == "excel serial"
    assert result.values.to_list() == [utc(2025, 1, 1), utc(2025, 1, 1, 12)]


def test_naive_times_are_read_in_the_source_zone_and_stored_in_utc():
    shanghai = parse(["2026-03-01 08:30"], tz="Asia/Shanghai")
    assert shanghai.values.to_list() == [utc(2026, 3, 1, 0, 30)]
    # Offsets in the value win over the source zone.
    assert parse(["2026-03-01T08:30:00+00:00"], tz="Asia/Shanghai").values.to_list() == [utc(2026, 3, 1, 8, 30)]


def test_a_local_time_the_clock_skipped_in_spring_is_read_on_the_clock_before_the_change():
    # New York went from 2:00 EST to 3:00 EDT on 10 March 2024: 2:30 EST is 7:30 UTC, as 3:30 EDT is.
    text = ["03/10/2024 02:30:00 AM", "03/10/2024 03:30:00 AM", "03/10/2024 01:59:00 AM", "03/13/2024 09:00:00 AM"]
    result = parse(text, "America/New_York")
    assert result.reasons.to_list() == [None] * 4
    assert result.values.to_list()[:3] == [utc(2024, 3, 10, 7, 30), utc(2024, 3, 10, 7, 30), utc(2024, 3, 10, 6, 59)]


def test_impossible_date_gets_a_reason_with_the_value():
    result = parse(["28/02/2024", "31/02/2024", None])
    assert result.values.to_list() == [utc(2024, 2, 28), None, None]
    assert result.reasons.to_list() == [None, "unparseable date '31/02/2024' in created_at", None]


def test_rare_second_format_in_a_column_is_still_parsed():
    values = ["2026-01-01 10:00"] * 3000 + ["2026-01-02"]
    result = parse(values)
    assert result.values[-1] == utc(2026, 1, 2)
    assert result.reasons.null_count() == len(values)


def test_null_placeholders():
    frame = pl.DataFrame({"a": ["?", " N/A ", "", "none", "-", "x ", "无"]})
    assert normalise_nulls(frame, ["a"])["a"].to_list() == [None, None, None, None, None, "x", None]


def test_booleans_in_english_and_chinese():
    values, reasons = parse_booleans(pl.Series(["TRUE", "no", "是", "否", "Y", "maybe", None]), "is_complaint")
    assert values.to_list() == [True, False, True, False, True, None, None]
    assert reasons.to_list()[5] == "unrecognised yes/no value 'maybe' in is_complaint"


def test_whole_numbers():
    values, reasons = parse_numbers(pl.Series(["0", "2", "1,234", "3.0", "2.5", "x"]), "reopen_count", pl.Int32)
    assert values.to_list() == [0, 2, 1234, 3, None, None]
    assert reasons.to_list()[4] == "reopen_count '2.5' is not a whole number"


def test_whole_seconds_or_milliseconds_since_1970_are_unix_times_in_utc_whatever_the_zone():
    seconds = parse(["1303862400", "1346976000", None], tz="Asia/Shanghai")
    assert (seconds.format, seconds.values.to_list()) == ("unix seconds", [utc(2011, 4, 27), utc(2012, 9, 7), None])
    assert parse(["1303862400123"]).values.to_list() == [utc(2011, 4, 27, 0, 0, 0, 123000)]
    beyond = parse(["5303862400", "1303862400"])  # 2138: a number, not a time
    assert beyond.format == "none" and beyond.reasons.to_list()[0] == "unparseable date '5303862400' in created_at"


def test_a_span_written_as_a_clock_reading_is_the_same_span_in_any_unit():
    text = pl.Series(["02:13:44", "1.5", "00:45", "125:00:00", None, "soon"])
    hours, why = parse_durations(text, "first_response_hours", 60)
    assert [round(v, 4) if v is not None else None for v in hours.to_list()] == [2.2289, 1.5, 0.75, 125.0, None, None]
    assert why.to_list() == [None] * 5 + ["first_response_hours 'soon' is not a number"]
    minutes, _ = parse_durations(text, "first_response_minutes", 1)
    assert [round(v, 2) if v is not None else None for v in minutes.to_list()][:4] == [133.73, 1.5, 45.0, 7500.0]


@pytest.mark.parametrize(
    ("values", "expected"),
    [([1, 2, 5], "1-5"), ([1, 6, 7], "1-7"), ([0, 3, 9], "0-10"), ([2, 8], "0-10"), ([3, 11], None)],
)
def test_scale_inferred_from_all_values(values, expected):
    assert scales.infer_scale(pl.Series(values, dtype=pl.Float64)) == expected


def test_top_two_boxes_on_each_scale():
    frame = pl.DataFrame(
        {
            "score": [4.0, 3.0, 6.0, 5.0, 9.0, 8.0, 1.0, 0.0],
            "scale": ["1-5", "1-5", "1-7", "1-7", "0-10", "0-10", "good-bad", "good-bad"],
        }
    )
    satisfied = frame.select(scales.satisfied_expr(pl.col("score"), pl.col("scale")))["score"].to_list()
    assert satisfied == [True, False, True, False, True, False, True, False]
