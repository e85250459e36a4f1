"""Property-based tests (hypothesis) of the readers and value parsers.

Any bytes either read or fail with IngestError, the one documented error; any text either
parses or gets a reason, never an exception; and loading any generated export twice
changes nothing the second time.
"""

from __future__ import annotations

import csv
import io

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.read.export import read_export
from pipelines.read.raw import LINE, RawExport
from pipelines.stage.values import parse_booleans, parse_numbers, parse_timestamps
from pipelines.warehouse.store import connect

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Text a helpdesk export holds: letters of both scripts, digits, separators, quotes, line breaks.
CELL = st.text(alphabet=st.sampled_from("abcXYZ中文客服 0123456789-:/.,;\"'\t\r\n+T"), max_size=25)


def _read_or_refused_in_one_line(data: bytes, name: str) -> RawExport | None:
    """The export read, or None when refused with one short line naming the file."""
    try:
        raw = read_export(data, name)
    except IngestError as exc:
        assert str(exc).startswith(f"{name}: ")
        assert "\n" not in str(exc).strip() and len(str(exc)) < 400
        return None
    assert raw.frame.height >= 0
    return raw


@QUICK
@given(data=st.binary(max_size=3000), extension=st.sampled_from(["csv", "tsv", "json", "jsonl", "xlsx", "parquet"]))
def test_any_bytes_read_or_fail_with_one_line_naming_the_file(data, extension):
    name = f"export.{extension}"
    raw = _read_or_refused_in_one_line(data, name)
    assert raw is None or raw.file_name == name


def _valid_files() -> dict[str, bytes]:
    frame = pl.DataFrame({"ticket id": ["T1", "T2"], "created at": ["2026-03-02 09:00", "2026-03-02 10:00"]})
    parquet, workbook = io.BytesIO(), io.BytesIO()
    frame.write_parquet(parquet)
    frame.write_excel(workbook)
    return {"export.parquet": parquet.getvalue(), "export.xlsx": workbook.getvalue()}


VALID_FILES = _valid_files()


@QUICK
@given(
    name=st.sampled_from(sorted(VALID_FILES)),
    changes=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8),
    cut=st.floats(0, 1),
)
def test_a_damaged_workbook_or_parquet_file_reads_or_fails_with_one_line(name, changes, cut):
    # Random bytes seldom look like a workbook or a Parquet file at all; a real one damaged does.
    data = bytearray(VALID_FILES[name])
    for where, byte in changes:
        data[int(where * len(data))] = byte
    damaged = bytes(data[: max(1, int(cut * len(data)))]) if cut < 0.5 else bytes(data)
    _read_or_refused_in_one_line(damaged, name)


@QUICK
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=6), max_size=12))
def test_any_delimited_text_reads_or_fails_with_the_documented_error(rows):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    for encoded in (text.getvalue().encode("utf-8"), text.getvalue().encode("gb18030")):
        try:
            raw = read_export(encoded, "cells.csv")
        except IngestError as exc:
            assert str(exc).startswith("cells.csv: ")
        else:  # every record read keeps the line it starts on, for the rejected-row report
            lines = raw.frame[LINE]
            assert lines.null_count() == 0 and (lines >= 1).all() and lines.is_sorted()


@QUICK
@given(values=st.lists(st.one_of(st.none(), CELL), max_size=40), tz=st.sampled_from(["UTC", "Asia/Shanghai"]))
def test_any_text_parses_as_a_timestamp_or_gets_a_reason(values, tz):
    text = pl.Series("created_at", values, dtype=pl.String)
    parsed = parse_timestamps(text, "created_at", tz)
    assert parsed.values.len() == parsed.reasons.len() == text.len()
    present = text.str.strip_chars().fill_null("") != ""
    # a present value is either a timestamp or has a reason; never silently nothing, never both
    assert ((parsed.values.is_not_null() | parsed.reasons.is_not_null()) | ~present).all()
    assert (parsed.values.is_null() | parsed.reasons.is_null()).all()


@QUICK
@given(values=st.lists(st.one_of(st.none(), CELL, st.floats(allow_nan=False).map(str)), max_size=40))
def test_any_text_parses_as_a_number_or_boolean_or_gets_a_reason(values):
    text = pl.Series("score", values, dtype=pl.String)
    present = text.str.strip_chars().fill_null("") != ""
    for parsed, reasons in (parse_numbers(text, "score"), parse_booleans(text, "reopened")):
        assert parsed.len() == reasons.len() == text.len()
        assert (parsed.is_null() | reasons.is_null()).all(), "a value with a reason is not also loaded"
        assert ((parsed.is_not_null() | reasons.is_not_null()) | ~present).all(), "a value is never dropped"


TICKET = st.fixed_dictionaries(
    {
        "ticket_id": st.one_of(st.sampled_from(["T1", "T2", "T3", "T4", ""]), CELL),
        "created_at": st.one_of(
            st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M")), st.sampled_from(["", "2026-13-40"]), CELL
        ),
        "channel": st.one_of(st.sampled_from(["email", "chat", "电话"]), CELL),
        "csat": st.one_of(st.integers(-2, 12).map(str), CELL),
    }
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tickets=st.lists(TICKET, min_size=1, max_size=15))
def test_every_row_is_accounted_for_and_loading_again_changes_nothing(tmp_path_factory, tickets):
    con = connect(tmp_path_factory.mktemp("property") / "w.duckdb")
    try:
        _load_twice(con, tickets)
    finally:
        con.close()


def _load_twice(con, tickets: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(tickets[0]))
    writer.writeheader()
    writer.writerows(tickets)
    data = text.getvalue().encode("utf-8")
    try:
        first = ingest_file(con, data, "tickets", file_name="generated.csv", source_tz="UTC")
    except IngestError as exc:
        assert str(exc).startswith("generated.csv: ")
        return
    assert first.rows_read == first.rows_loaded + first.rows_updated + first.rows_duplicate + first.rows_rejected
    stored = con.sql("SELECT * EXCLUDE (batch_id) FROM tickets ORDER BY ticket_id").fetchall()
    again = ingest_file(con, data, "tickets", file_name="generated.csv", source_tz="UTC")
    assert again.rows_read == first.rows_read
    assert (again.rows_loaded, again.rows_updated, again.rows_rejected) == (0, 0, first.rows_rejected)
    assert con.sql("SELECT * EXCLUDE (batch_id) FROM tickets ORDER BY ticket_id").fetchall() == stored
