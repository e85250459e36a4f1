"""The bad-input corpus (tests/bad_inputs, listed in docs/reliability.md): each file is refused with one line naming
it, or loaded with every bad row in rejected_rows and its reason; the counts always add up."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from pipelines.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.readers import read_export

CORPUS = Path(__file__).parent / "bad_inputs"
# file: (kind, the one-line problem when refused, or {reason: rows rejected} when loaded)
OUTCOMES: dict[str, tuple[str, str | dict[str, int]]] = {
    "empty.csv": ("tickets", "the file is empty"),
    "binary_garbage.csv": ("tickets", "binary content, not a text table"),
    "header_only.csv": ("tickets", {}),
    "header_repeated_mid_file.csv": ("tickets", {"unparseable date in created_at": 1}),
    "mixed_delimiters.csv": ("tickets", {"missing created_at": 1}),
    "future_dates.csv": ("tickets", {"created_at is in the future": 1}),
    "resolved_before_created.csv": ("tickets", {"resolved_at before created_at": 1}),
    "negative_and_absurd_durations.csv": ("tickets", {"first_response_at before created_at": 1}),
    "scores_outside_scale.csv": ("surveys", {"score outside scale 1-5": 2}),
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


def test_every_corpus_file_is_in_the_reliability_table():
    table = (Path(__file__).parent.parent / "docs" / "reliability.md").read_text(encoding="utf-8")
    for path in CORPUS.iterdir():
        assert f"`{path.name}`" in table, path.name


def test_an_upload_over_the_size_limit_is_refused_unread(monkeypatch):
    monkeypatch.setenv("CSAT_RADAR_MAX_UPLOAD_MB", "0.001")
    data = (CORPUS / "future_dates.csv").read_bytes() * 20
    with pytest.raises(IngestError, match=r"^big\.csv: 0 MB is over the upload limit of 0 MB"):
        read_export(data, file_name="big.csv")


def test_a_zip_bomb_named_xlsx_is_refused_before_it_is_unpacked():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (300 * 1024 * 1024))  # 300 MB of zeros
    data = buffer.getvalue()
    assert len(data) < 1024 * 1024
    with pytest.raises(IngestError, match=r"^report\.xlsx: the workbook unpacks to 300 MB .*refused unread"):
        read_export(data, file_name="report.xlsx")


def test_formula_cells_are_stored_as_text_and_defused_in_downloads(con):
    from metrics.compute import Query, records
    from metrics.exports import csv_bytes
    from metrics.settings import load_settings

    result = ingest_file(con, CORPUS / "formula_cells.csv", "tickets", source_tz="UTC")
    assert result.rows_loaded == 2
    stored = sorted(r[0] for r in con.sql("SELECT channel FROM tickets").fetchall())
    assert stored == ["+cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example","click")']  # kept as given
    rows = records(con, "tickets", Query(("ticket_volume",), "range"), load_settings())
    text = csv_bytes(rows.select("ticket_id", "channel")).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+cmd" in text
    assert "\n=" not in text and ",=" not in text and ",+" not in text
