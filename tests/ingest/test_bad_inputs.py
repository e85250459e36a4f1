"""The bad-input corpus (tests/bad_inputs, listed in docs/reliability.md): each file is refused with one line naming
it, or loaded with every bad row in rejected_rows and its reason; the counts always add up."""

from __future__ import annotations

import io
import re
import tomllib
import zipfile
from pathlib import Path

import duckdb
import pytest

from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.read.export import read_export
from tests.conftest import run_cli

CORPUS = Path(__file__).parents[1] / "bad_inputs"
# file: (kind, the one-line problem when refused, or {reason: rows rejected} when loaded)
OUTCOMES: dict[str, tuple[str, str | dict[str, int]]] = {
    "empty.csv": ("tickets", "the file is empty"),
    "binary_garbage.csv": ("tickets", "binary content, not a text table"),
    "header_only.csv": ("tickets", {}),
    "header_repeated_mid_file.csv": ("tickets", {"unparseable date in created_at": 1}),
    "mixed_delimiters.csv": ("tickets", {"record has 1 field, the header has 5": 1}),
    "truncated_last_record.csv": ("tickets", {"record has 3 fields, the header has 5": 1}),
    "unquoted_line_break.csv": ("tickets", {"record has 3 fields, the header has 5": 2}),
    "invalid_utf8_bytes.csv": ("tickets", {"bytes that are not valid UTF-8 in the record": 1}),
    "invalid_byte_in_utf8_chinese.csv": ("tickets", {"bytes that are not valid UTF-8 in the record": 1}),
    "duplicate_ids_conflicting.csv": ("tickets", {"ticket_id is on lines 2, 3 with different values": 2}),
    "future_dates.csv": ("tickets", {"created_at is in the future": 1}),
    "resolved_before_created.csv": ("tickets", {"resolved_at before created_at": 1}),
    "negative_and_absurd_durations.csv": (
        "tickets",
        {
            "first_response_at before created_at": 1,
            "resolved_at 1096 days after created_at (more than 365: check the dates)": 1,
        },
    ),
    "duplicate_column_names.csv": (
        "tickets",
        "two or more columns are named 'channel', read as channel; rename them in the file, "
        "or choose the right one for channel (channel_2 is the second)",
    ),
    "scores_outside_scale.csv": ("surveys", {"score outside scale 1-5": 2}),
    "mixed_scales.csv": (
        "surveys",
        "the scores look like two scales in one column (4 at 4-5 as on a 1-5 survey, 2 at 9-10 as on 0-10, "
        "1 between); add a scale column, or name the scale",
    ),
    "declared_utf8_but_gbk.csv": ("tickets", {}),
    "offsets_in_some_rows.csv": ("tickets", {}),
}


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_each_bad_file_is_refused_in_one_line_or_loaded_with_its_bad_rows_and_reasons(con, name):
    kind, expected = OUTCOMES[name]
    before = con.sql("SELECT count(*) FROM batches").fetchall()
    if isinstance(expected, str):
        with pytest.raises(IngestError) as caught:
            ingest_file(con, CORPUS / name, kind, source_tz="UTC")
        assert str(caught.value) == f"{name}: {expected}"
        assert con.sql("SELECT count(*) FROM batches").fetchall() == before  # nothing written
        return
    result = ingest_file(con, CORPUS / name, kind, source_tz="UTC")
    assert result.rows_read == result.rows_loaded + result.rows_updated + result.rows_duplicate + result.rows_rejected
    assert result.rejections == expected
    stored = con.sql(f"SELECT reason FROM rejected_rows WHERE batch_id = {result.batch_id}").fetchall()
    by_reason: dict[str, int] = {}
    for (reason,) in stored:  # each stored reason quotes the value it is about
        general = re.sub(r" '[^']*'", "", reason)
        by_reason[general] = by_reason.get(general, 0) + 1
    assert by_reason == expected


def test_mixed_scales_load_once_the_scale_is_named_and_answers_off_it_are_rejected(con, tmp_path):
    db = tmp_path / "w.duckdb"
    as_nps = run_cli(
        "ingest", str(CORPUS / "mixed_scales.csv"), "--kind", "surveys", "--scale", "0-10", "--db", str(db)
    )
    assert as_nps.returncode == 0, as_nps.stderr
    assert "8 read as surveys" in as_nps.stdout and "8 loaded" in as_nps.stdout
    result = ingest_file(con, CORPUS / "mixed_scales.csv", "surveys", source_tz="UTC", scale="1-5")
    assert (result.rows_loaded, result.rejections) == (5, {"score outside scale 1-5": 3})
    stored = con.sql(f"SELECT reason FROM rejected_rows WHERE batch_id = {result.batch_id} ORDER BY line_number")
    assert stored.fetchall() == [(f"score '{n}' outside scale 1-5",) for n in (9, 10, 7)]
    assert con.sql("SELECT DISTINCT scale FROM survey_responses").fetchall() == [("1-5",)]


@pytest.mark.parametrize(
    "scores",
    [
        [10, 9, 9, 10, 8, 7, 8, 9, 6, 5, 3, 10],  # a usual 0-10 survey: more at 6-8 than at 4-5
        [0, 1, 0, 2, 5, 4, 3, 10, 0, 9],  # customers angry: more at 0-3 than at 4-5
        [5, 4, 5, 3, 4, 2, 5],  # a 1-5 survey
    ],
)
def test_a_single_scale_is_not_mistaken_for_two(con, scores):
    rows = "".join(f"R{i},2026-03-02 12:00,{score}\n" for i, score in enumerate(scores))
    result = ingest_file(con, f"response id,responded at,score\n{rows}".encode(), "surveys", "one.csv", source_tz="UTC")
    assert (result.rows_loaded, result.rows_rejected) == (len(scores), 0)
    expected = "1-5" if max(scores) <= 5 else "0-10"
    assert con.sql("SELECT DISTINCT scale FROM survey_responses").fetchall() == [(expected,)]


def test_an_unknown_scale_is_refused_in_one_line(con):
    with pytest.raises(IngestError) as caught:
        ingest_file(con, CORPUS / "mixed_scales.csv", "surveys", source_tz="UTC", scale="1-100")
    assert str(caught.value) == "mixed_scales.csv: unknown scale '1-100' (use 1-5, 1-7, 0-10 or good-bad)"


@pytest.mark.parametrize("name", sorted(n for n, (_, outcome) in OUTCOMES.items() if isinstance(outcome, dict)))
def test_each_loaded_bad_file_gives_the_same_outcome_when_read_as_a_large_file(con, streamed, name):
    kind, expected = OUTCOMES[name]
    result = ingest_file(con, CORPUS / name, kind, source_tz="UTC")
    assert result.rows_read == result.rows_loaded + result.rows_updated + result.rows_duplicate + result.rows_rejected
    assert result.rejections == expected


def test_the_offset_of_each_row_is_honoured_and_naive_rows_take_the_file_s_zone(con):
    ingest_file(con, CORPUS / "offsets_in_some_rows.csv", "tickets", source_tz="UTC")
    created = dict(
        con.sql("SELECT ticket_id, strftime(created_at AT TIME ZONE 'UTC', '%H:%M') FROM tickets").fetchall()
    )
    assert created == {"T1": "01:00", "T2": "10:00"}  # 09:00+08:00 is 01:00 UTC; the naive 10:00 is read as UTC


def test_a_gbk_file_is_read_as_gbk_whatever_it_claims(con):
    result = ingest_file(con, CORPUS / "declared_utf8_but_gbk.csv", "tickets", source_tz="UTC")
    assert result.encoding.lower() in ("gb18030", "gbk")
    assert sorted(r[0] for r in con.sql("SELECT channel FROM tickets").fetchall()) == ["在线客服", "电话"]


def test_a_utf8_chinese_file_with_a_bad_byte_is_read_as_utf8_though_gb18030_would_decode_it(con):
    data = (CORPUS / "invalid_byte_in_utf8_chinese.csv").read_bytes()
    assert data.decode("gb18030")  # as gibberish: the trap this file is for
    result = ingest_file(con, data, "tickets", "invalid_byte_in_utf8_chinese.csv", source_tz="UTC")
    assert result.encoding == "utf-8"
    assert con.sql("SELECT ticket_id, channel FROM tickets ORDER BY ticket_id").fetchall() == [
        ("T1", "电话"),
        ("T2", "在线客服"),
        ("T4", "微信"),
    ]


def test_a_gbk_file_with_one_chinese_name_among_many_ascii_lines_is_still_gbk(con):
    lines = [f"T{i},2026-03-02 09:00,email" for i in range(300)] + ["T300,2026-03-02 09:00,张三"]
    data = ("ticket id,created at,channel\n" + "\n".join(lines) + "\n").encode("gbk")
    result = ingest_file(con, data, "tickets", "mostly_ascii_gbk.csv", source_tz="UTC")
    assert (result.encoding, result.rows_loaded) == ("gb18030", 301)
    assert con.sql("SELECT channel FROM tickets WHERE ticket_id = 'T300'").fetchall() == [("张三",)]


def test_every_corpus_file_is_in_the_reliability_table():
    table = (Path(__file__).parents[2] / "docs" / "reliability.md").read_text(encoding="utf-8")
    for path in CORPUS.iterdir():
        assert f"`{path.name}`" in table, path.name


def test_an_upload_over_the_size_limit_is_refused_unread(monkeypatch):
    monkeypatch.setenv("CSAT_RADAR_MAX_UPLOAD_MB", "0.01")
    data = (CORPUS / "future_dates.csv").read_bytes() * 100  # 18 KB, over 10 KB
    with pytest.raises(IngestError) as caught:
        read_export(data, file_name="big.csv")
    assert str(caught.value) == (
        "big.csv: 0 MB is over the upload limit of 0 MB (CSAT_RADAR_MAX_UPLOAD_MB); "
        "load it with csat-radar ingest instead"
    )
    assert read_export((CORPUS / "future_dates.csv").read_bytes(), file_name="small.csv").frame.height == 2


def test_the_upload_limit_is_one_gigabyte_unless_configured(monkeypatch):
    from pipelines.common import limits

    monkeypatch.delenv("CSAT_RADAR_MAX_UPLOAD_MB", raising=False)
    assert limits.UPLOAD_MB.bytes() == 1024**3
    config = tomllib.loads((Path(__file__).parents[2] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == 1024  # the browser refuses bigger files before they are sent


# The command line's own words after a message any face shows: how to name a column there.
CLI_HINTS = {
    "duplicate_column_names.csv": "; name the column with --map channel=COLUMN",
    "mixed_scales.csv": "; name it with --scale (1-5, 1-7, 0-10 or good-bad)",
}


@pytest.mark.parametrize("name", sorted(n for n, (_, outcome) in OUTCOMES.items() if isinstance(outcome, str)))
def test_each_refused_bad_file_exits_2_with_its_one_line_and_writes_nothing(tmp_path, name):
    db = tmp_path / "w.duckdb"
    kind = OUTCOMES[name][0]
    refused = run_cli("ingest", str(CORPUS / name), "--kind", kind, "--db", str(db), "--tz", "UTC")
    line = f"csat-radar: {name}: {OUTCOMES[name][1]}{CLI_HINTS.get(name, '')}\n"
    assert (refused.returncode, refused.stderr, refused.stdout) == (2, line, "")
    if db.exists():
        written = duckdb.connect(str(db), read_only=True)
        assert written.sql("SELECT (SELECT count(*) FROM batches) + (SELECT count(*) FROM tickets)").fetchall() == [
            (0,)
        ]
        written.close()


def test_old_mac_line_endings_are_read(con, tmp_path, either_size):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"ticket id,created at,channel\rT1,2026-03-02 09:00,email\rT2,2026-03-02 10:00,chat\r")
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded) == (2, 2)
    assert con.sql("SELECT ticket_id, channel FROM tickets ORDER BY 1").fetchall() == [("T1", "email"), ("T2", "chat")]


def test_a_zip_bomb_named_xlsx_is_refused_before_it_is_unpacked():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))  # 300 MB of zeros
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024
    with pytest.raises(IngestError, match=r"^report\.xlsx: the workbook unpacks to 300 MB .*refused unread"):
        read_export(data, file_name="report.xlsx")


def test_a_zip_bomb_that_lies_about_its_sizes_is_refused_unread():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (200 * 1024 * 1024))
    data = bytearray(buffer.getvalue())
    # Both places the archive states the entry's size: its local header and the central directory.
    local = data.index(b"PK\x03\x04xl/"[:4], data.index(b"PK\x03\x04") + 4)
    central = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)
    data[local + 22 : local + 26] = data[central + 24 : central + 28] = (1000).to_bytes(4, "little")
    assert zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo("xl/worksheets/sheet1.xml").file_size == 1000
    with pytest.raises(IngestError) as caught:
        read_export(bytes(data), file_name="report.xlsx")
    assert str(caught.value) == (
        "report.xlsx: damaged Excel file (xl/worksheets/sheet1.xml does not match its stated size and checksum)"
    )


def _damaged_workbook() -> bytes:
    good = zipfile.ZipFile(io.BytesIO(_workbook(_two_sheets)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in good.infolist():
            content = good.read(entry)
            archive.writestr(
                entry.filename, content[: len(content) // 2] if "worksheets/" in entry.filename else content
            )
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("cut.xlsx", _damaged_workbook, "cannot read as excel: "),
        ("deep.json", lambda: b"[" * 200_000, "cannot read as json: nested too deeply to read"),
        ("deep.jsonl", lambda: b"[" * 200_000 + b"\n", "cannot read as json: nested too deeply to read"),
    ],
)
def test_a_damaged_file_is_refused_in_one_line_not_a_traceback(con, name, data, problem):
    with pytest.raises(IngestError) as caught:
        ingest_file(con, data(), "tickets", name, source_tz="UTC")
    message = str(caught.value)
    assert message.startswith(f"{name}: {problem}") and "\n" not in message
    assert con.sql("SELECT count(*) FROM batches").fetchall() == [(0,)]


def test_the_sheets_of_a_damaged_workbook_are_asked_for_in_one_line():
    from pipelines.read.workbook import workbook_tables  # the Upload page asks before any preview

    with pytest.raises(IngestError, match=r"^cut\.xlsx: cannot read as excel: calamine error: .*tag not closed"):
        workbook_tables("cut.xlsx", _damaged_workbook())


@pytest.mark.parametrize("zone", ["Asia", "Europe/", "x" * 5000])
def test_a_time_zone_that_is_a_folder_or_too_long_is_refused_in_one_line(con, zone):
    with pytest.raises(IngestError, match=r"^future_dates\.csv: unknown time zone '"):
        ingest_file(con, CORPUS / "future_dates.csv", "tickets", source_tz=zone)


def test_a_utf8_mark_before_gbk_text_is_not_believed(con):
    data = b"\xef\xbb\xbf" + "工单编号,创建时间,渠道\nT1,2026-03-02 09:00,电话\n".encode("gbk")
    result = ingest_file(con, data, "tickets", "marked.csv", source_tz="UTC")
    assert (result.encoding, result.rows_loaded) == ("gb18030", 1)
    assert con.sql("SELECT channel FROM tickets").fetchall() == [("电话",)]


def test_a_utf8_file_with_its_mark_and_one_bad_byte_rejects_only_that_row(con):
    data = b"\xef\xbb\xbf" + (CORPUS / "invalid_utf8_bytes.csv").read_bytes()
    result = ingest_file(con, data, "tickets", "marked.csv", source_tz="UTC")
    assert (result.encoding, result.rows_loaded) == ("utf-8-sig", 1)
    assert result.rejections == {"bytes that are not valid UTF-8 in the record": 1}


def test_a_large_utf16_file_cut_inside_a_character_is_refused_in_one_line(con, streamed, tmp_path):
    path = tmp_path / "cut16.csv"
    text = "ticket id,created at\nT1,2026-03-02 09:00\nT2,2026-03-02 10:00\n"
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le") + b"T")  # half of a two-byte unit
    with pytest.raises(IngestError, match=r"^cut16\.csv: cannot decode byte \d+ as utf-16-le$"):
        ingest_file(con, path, "tickets", source_tz="UTC")


def test_formula_cells_are_stored_as_text_and_defused_in_downloads(con):
    from metrics.kpis.compute import Query, records
    from metrics.kpis.settings import load_settings
    from metrics.reports.exports import csv_bytes

    result = ingest_file(con, CORPUS / "formula_cells.csv", "tickets", source_tz="UTC")
    assert result.rows_loaded == 2
    stored = sorted(r[0] for r in con.sql("SELECT channel FROM tickets").fetchall())
    assert stored == ["+cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")']  # kept as given
    rows = records(con, "tickets", Query(("ticket_volume",), "range"), load_settings())
    text = csv_bytes(rows.select("ticket_id", "channel")).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+cmd" in text
    assert "\n=" not in text and ",=" not in text and ",+" not in text


def test_the_second_of_two_same_named_columns_can_be_chosen(con):
    result = ingest_file(con, CORPUS / "duplicate_column_names.csv", "tickets", mapping={"channel": "channel_2"},
                         source_tz="UTC")  # fmt: skip
    assert result.rows_loaded == 1
    assert con.sql("SELECT channel, attributes->>'channel' FROM tickets").fetchall() == [("chat", "email")]


def test_day_first_and_month_first_files_each_keep_their_own_order(con):
    ingest_file(con, CORPUS / "day_first_dates.csv", "tickets", source_tz="UTC")
    ingest_file(con, CORPUS / "month_first_dates.csv", "tickets", source_tz="UTC")
    created = dict(con.sql("SELECT ticket_id, strftime(created_at, '%Y-%m-%d') FROM tickets").fetchall())
    # 02/03 is 2 March in the day-first file and 03/02 is 2 March in the month-first one
    assert created == {"T1": "2026-03-13", "T2": "2026-03-02", "T3": "2026-03-14", "T4": "2026-03-02"}


def _workbook(build) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer)
    build(workbook)
    workbook.close()
    return buffer.getvalue()


def test_excel_merged_header_cells_and_serial_dates_are_read(con):
    from datetime import datetime

    def build(workbook):
        sheet = workbook.add_worksheet("Tickets")
        sheet.merge_range(0, 1, 0, 2, "Times")  # a merged title over two header cells
        sheet.write_row(1, 0, ["ticket id", "created at", "resolved at", "channel"])
        stamp = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        sheet.write(2, 0, "T1")
        sheet.write_datetime(2, 1, datetime(2026, 3, 2, 9, 0), stamp)
        sheet.write_number(2, 2, 46083.5)  # a serial date typed as a plain number: 2026-03-02 12:00
        sheet.write(2, 3, "email")
        notes = workbook.add_worksheet("Notes")
        notes.write(0, 0, "exported by the helpdesk")

    result = ingest_file(con, _workbook(build), "tickets", file_name="merged.xlsx", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded) == (1, 1)
    row = con.sql("SELECT strftime(created_at, '%Y-%m-%d %H:%M'), strftime(resolved_at, '%Y-%m-%d %H:%M') "
                  "FROM tickets").fetchall()  # fmt: skip
    assert row == [("2026-03-02 09:00", "2026-03-02 12:00")]


def test_an_excel_workbook_with_tables_on_several_sheets_is_refused_naming_them(con):
    def build(workbook):
        for name in ("Tickets", "Surveys"):
            sheet = workbook.add_worksheet(name)
            sheet.write_row(0, 0, ["ticket id", "created at"])
            sheet.write_row(1, 0, ["T1", "2026-03-02 09:00"])
            sheet.write_row(2, 0, ["T2", "2026-03-02 10:00"])

    with pytest.raises(IngestError) as caught:
        ingest_file(con, _workbook(build), "tickets", file_name="two.xlsx", source_tz="UTC")
    assert str(caught.value) == "two.xlsx: the workbook has 2 sheets with tables (Tickets, Surveys); choose one"
    assert con.sql("SELECT count(*) FROM batches").fetchall() == [(0,)]


def _two_sheets(workbook):
    for name, ids in (("Tickets", ["T1", "T2"]), ("Older", ["T8", "T9"])):
        sheet = workbook.add_worksheet(name)
        sheet.write_row(0, 0, ["ticket id", "created at"])
        for row, ticket in enumerate(ids, start=1):
            sheet.write_row(row, 0, [ticket, "2026-03-02 09:00"])


def test_the_sheet_to_load_can_be_chosen(con, tmp_path):
    from pipelines.read.workbook import workbook_tables

    data = _workbook(_two_sheets)
    assert workbook_tables("two.xlsx", data) == ["Tickets", "Older"]
    result = ingest_file(con, data, "tickets", file_name="two.xlsx", source_tz="UTC", sheet="Older")
    assert result.rows_loaded == 2
    assert sorted(r[0] for r in con.sql("SELECT ticket_id FROM tickets").fetchall()) == ["T8", "T9"]
    with pytest.raises(IngestError, match=r"^two.xlsx: no sheet 'Newest' in the workbook \(it has Tickets, Older\)$"):
        ingest_file(con, data, "tickets", file_name="two.xlsx", source_tz="UTC", sheet="Newest")
    path = tmp_path / "two.xlsx"
    path.write_bytes(data)
    db = tmp_path / "cli.duckdb"
    loaded = run_cli("ingest", str(path), "--kind", "tickets", "--sheet", "Tickets", "--tz", "UTC", "--db", str(db))
    assert loaded.returncode == 0, loaded.stderr
    assert "2 read as tickets" in loaded.stdout
    refused = run_cli("ingest", str(CORPUS / "future_dates.csv"), "--kind", "tickets", "--sheet", "X", "--db", str(db))
    assert refused.returncode == 2
    assert (
        refused.stderr.strip() == "csat-radar: future_dates.csv: --sheet is for Excel workbooks; this file reads as csv"
    )


def test_a_ten_megabyte_line_is_read_whole(con, tmp_path):
    header_only = tmp_path / "one_line.csv"
    header_only.write_bytes(b"ticket id,created at,channel," + b"x" * 10_000_000)
    assert ingest_file(con, header_only, "tickets", source_tz="UTC").rows_read == 0
    long_field = tmp_path / "long_field.csv"
    long_field.write_bytes(b"ticket id,created at,channel\nT1,2026-03-02 09:00," + b"x" * 10_000_000 + b"\n")
    result = ingest_file(con, long_field, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded) == (1, 1)
    assert con.sql("SELECT length(channel) FROM tickets").fetchall() == [(10_000_000,)]


def _read_as_large(monkeypatch) -> None:
    """Every text file read as a large one is: in parts of 2 records."""
    from pipelines.read import stream

    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setattr(stream, "STREAM_ROWS", 2)


@pytest.fixture
def streamed(monkeypatch):
    _read_as_large(monkeypatch)


@pytest.fixture(params=["large", "small"])
def either_size(request, monkeypatch):
    """The test runs twice: with every text file read as a large one, and as usual."""
    if request.param == "large":
        _read_as_large(monkeypatch)


def test_a_large_file_with_an_invalid_byte_rejects_that_row_and_loads_the_rest(con, streamed):
    result = ingest_file(con, CORPUS / "invalid_utf8_bytes.csv", "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded) == (2, 1)
    assert result.rejections == {"bytes that are not valid UTF-8 in the record": 1}


def test_a_large_file_keeps_the_scale_its_first_part_shows(con, streamed, tmp_path):
    # Inferred part by part, the second part (9, 10) would silently have been read on 0-10.
    path = tmp_path / "large_surveys.csv"
    path.write_text("response id,responded at,score\nR1,2026-03-02 12:00,5\nR2,2026-03-02 12:00,4\n"
                    "R3,2026-03-02 12:00,9\nR4,2026-03-02 12:00,10\n")  # fmt: skip
    result = ingest_file(con, path, "surveys", source_tz="UTC")
    assert result.rows_loaded == 2
    assert result.rejections == {"score outside scale 1-5": 2}


def test_a_large_file_rejects_one_id_s_differing_rows_wherever_they_are(con, streamed, tmp_path):
    path = tmp_path / "large_tickets.csv"
    path.write_text(
        "ticket id,created at,channel\n"
        "T1,2026-03-02 09:00,email\nT2,2026-03-02 09:10,chat\n"  # part 1
        "T3,2026-03-02 09:20,web\nT1,2026-03-02 09:00,phone\n"  # part 2: T1 again, on another channel
        "T4,2026-03-02 09:30,web\nT2,2026-03-02 09:10,chat\n"  # part 3: T2 again, exactly
    )
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_duplicate, result.rows_rejected) == (6, 3, 1, 2)
    assert con.sql("SELECT ticket_id FROM tickets ORDER BY ALL").fetchall() == [("T2",), ("T3",), ("T4",)]
    stored = con.sql(f"SELECT line_number, reason FROM rejected_rows WHERE batch_id = {result.batch_id} ORDER BY 1")
    assert stored.fetchall() == [(n, "ticket_id 'T1' is on lines 2, 5 with different values") for n in (2, 5)]


def test_one_id_s_rows_are_named_by_their_lines_in_number_order(con):
    rows = "".join(f"T{n},2026-03-02 09:00,email\n" for n in range(2, 10)) + "T1,2026-03-02 09:00,chat\n"
    data = f"ticket id,created at,channel\nT1,2026-03-02 09:00,email\n{rows}".encode()
    result = ingest_file(con, data, "tickets", "ten_lines.csv", source_tz="UTC")
    assert result.rows_rejected == 2
    reasons = con.sql("SELECT DISTINCT reason FROM rejected_rows").fetchall()
    assert reasons == [("ticket_id 'T1' is on lines 2, 11 with different values",)]  # not "11, 2"


def test_short_wide_and_cut_records_are_set_aside_and_empty_fields_kept(con, tmp_path, either_size):
    path = tmp_path / "ragged.csv"
    path.write_text(
        "ticket id,created at,channel\n"
        "T1,2026-03-02 09:00,\n"  # an empty field: a record as wide as the header
        "T2,2026-03-02 09:10\n"  # short: Polars would pad it
        "T3,2026-03-02 09:20,web,surplus\n"  # wide: Polars would cut it
        "T4,2026-03-02 09:30,web\n"
        'T5,2026-03-02 09:40,"we'  # as wide as the header, but cut inside its quotes
    )
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (5, 2, 3)
    assert con.sql("SELECT ticket_id, channel FROM tickets ORDER BY 1").fetchall() == [("T1", None), ("T4", "web")]
    stored = con.sql(f"SELECT line_number, reason FROM rejected_rows WHERE batch_id = {result.batch_id} ORDER BY 1")
    assert stored.fetchall() == [
        (3, "record has 2 fields, the header has 3"),
        (4, "record has 4 fields, the header has 3"),
        (6, "record cut inside a quoted field"),
    ]


def test_quotes_in_a_header_and_inside_fields_are_text(con, tmp_path, either_size):
    # Read as opening a quoted field, the header's quote once swallowed every row of a large file.
    path = tmp_path / "inches.csv"
    path.write_text(
        'ticket id,created at,Screen 5" size\n'
        "T1,2026-03-02 09:00,big\n"
        'T2,2026-03-02 10:00,5" wide\n'
        "T3,2026-03-02 11:00,small\n"
        "T4,2026-03-02 12:00,tiny\n"
        "T5,2026-03-02 13:00,short\n"
    )
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (5, 5, 0)
    sizes = con.sql("""SELECT attributes->>'Screen 5" size' FROM tickets ORDER BY ticket_id""").fetchall()
    assert sizes == [("big",), ('5" wide',), ("small",), ("tiny",), ("short",)]


def test_a_failure_in_the_middle_of_a_large_file_is_its_one_line_and_nothing_is_written(con, streamed, monkeypatch):
    from pipelines import ingest

    real_stage, calls = ingest.stage, []

    def stage_then_fail(raw, *args, **kwargs):
        calls.append(raw.frame.height)
        if len(calls) == 2:
            raise IngestError(raw.file_name, "the second part cannot be staged")
        return real_stage(raw, *args, **kwargs)

    monkeypatch.setattr(ingest, "stage", stage_then_fail)
    with pytest.raises(IngestError) as caught:
        ingest_file(con, CORPUS / "unquoted_line_break.csv", "tickets", source_tz="UTC")
    assert str(caught.value) == "unquoted_line_break.csv: the second part cannot be staged"
    assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(0,)]
    assert con.sql("SELECT count(*) FROM batches").fetchall() == [(0,)]
