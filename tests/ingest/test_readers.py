"""Reading raw exports: encodings, layouts, formats, and the one-line errors for unreadable files."""

from __future__ import annotations

import codecs
import io
import json

import polars as pl
import pytest

from pipelines.common.errors import IngestError
from pipelines.read.export import read_export
from pipelines.read.raw import LINE
from pipelines.read.sniff import detect_encoding

CHINESE = "工单号,创建时间,满意度\nA1,2026/3/1 9:00,满意\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (CHINESE.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + CHINESE.encode("utf-8"), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + CHINESE.encode("utf-16-le"), "utf-16-le"),
        (codecs.BOM_UTF16_BE + CHINESE.encode("utf-16-be"), "utf-16-be"),
        # Short GBK text is what statistical detectors mistake for Korean.
        (CHINESE.encode("gbk"), "gb18030"),
    ],
)
def test_encodings_decode_to_the_same_chinese_text(data, expected):
    encoding, text = detect_encoding(data)
    assert encoding == expected
    assert text == CHINESE


def test_reader_keeps_chinese_headers_and_values_from_gbk():
    raw = read_export(CHINESE.encode("gbk"), "gbk.csv")
    assert raw.source_columns == ["工单号", "创建时间", "满意度"]
    assert raw.frame["满意度"].to_list() == ["满意"]


@pytest.mark.parametrize("delimiter", [",", "\t", ";", "|"])
def test_delimiter_is_sniffed(delimiter):
    text = delimiter.join(["id", "created_at", "note"]) + "\n" + delimiter.join(["1", "2026-01-01", "a b"]) + "\n"
    raw = read_export(text.encode(), "t.txt")
    assert raw.source_columns == ["id", "created_at", "note"]
    assert raw.delimiter == delimiter


def test_preamble_lines_are_skipped_and_line_numbers_count_quoted_breaks():
    text = (
        "Archive:  export.zip\n"
        "  inflating: complaints.csv\n"
        "id,text,date\n"
        '1,"first line\nsecond line\nthird line",2026-01-01\n'
        "2,plain,2026-01-02\n"
    )
    raw = read_export(text.encode(), "c.csv")
    assert raw.header_line == 3
    assert raw.frame["id"].to_list() == ["1", "2"]
    # Record 2 starts on physical line 7 because record 1 spans lines 4-6.
    assert raw.frame[LINE].to_list() == [4, 7]


def test_excel_with_title_rows_above_the_header(tmp_path):
    path = tmp_path / "report.xlsx"
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, ["Monthly ticket report"])
    sheet.write_row(2, 0, ["Ticket ID", "Created at", "Status"])
    sheet.write_row(3, 0, ["T1", "2026-01-02 10:00", "open"])
    sheet.write_row(4, 0, ["T2", "2026-01-03 11:00", "closed"])
    book.close()
    raw = read_export(path)
    assert raw.file_format == "excel"
    assert raw.source_columns == ["Ticket ID", "Created at", "Status"]
    assert raw.frame["Ticket ID"].to_list() == ["T1", "T2"]
    assert raw.frame[LINE].to_list() == [4, 5]


def test_parquet_json_and_jsonl_read_as_strings(tmp_path):
    frame = pl.DataFrame({"ticket_id": ["a", "b"], "score": [5, 3]})
    frame.write_parquet(tmp_path / "x.parquet")
    records = frame.to_dicts()
    (tmp_path / "x.json").write_text(json.dumps(records))
    (tmp_path / "x.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    for name, fmt in (("x.parquet", "parquet"), ("x.json", "json"), ("x.jsonl", "jsonl")):
        raw = read_export(tmp_path / name)
        assert raw.file_format == fmt
        assert raw.frame["score"].to_list() == ["5", "3"], name


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\n\n  \n", "the file is empty"),
        ("garbage.csv", bytes(range(256)) * 20, "binary content, not a text table"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel 97-2003 .xls format"),
        ("fake.xlsx", b"PK\x03\x04" + b"\x00" * 50, "damaged Excel file"),
        ("broken.json", b'[{"a": 1},', "cannot read as json"),
        ("list.json", b"[1, 2, 3]", "JSON is not a list of records"),
    ],
)
def test_unreadable_files_raise_one_line_naming_the_file(name, data, problem):
    with pytest.raises(IngestError) as caught:
        read_export(data, name)
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert problem in message
    assert "\n" not in message


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(IngestError, match="nope.csv: file not found"):
        read_export(tmp_path / "nope.csv")


def test_reading_does_not_touch_the_file(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,created_at\n1,2026-01-01\n")
    before = path.read_bytes(), path.stat().st_mtime_ns
    read_export(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_bytes_and_path_give_the_same_frame(tmp_path):
    data = b"id,created_at\n1,2026-01-01\n2,2026-01-02\n"
    path = tmp_path / "t.csv"
    path.write_bytes(data)
    assert read_export(io.BytesIO(data).getvalue(), "t.csv").frame.equals(read_export(path).frame)
