"""Memory bounded by design: parts sized by bytes, DuckDB's memory and threads set from the machine."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipelines import stream_batches
from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.read import stream
from pipelines.read.shape import record_ranges
from pipelines.read.text import misshapen_records
from pipelines.warehouse import machine
from pipelines.warehouse.store import connect
from tests.conftest import write

HEADER = "ticket_id,created_at,status,channel,subject\n"


def _tickets(count: int, subject_chars: int) -> str:
    subject = ('need help, "urgent" 请尽快处理 ' * (subject_chars // 30 + 1))[:subject_chars]
    quoted = '"' + subject.replace('"', '""') + '"'
    return HEADER + "".join(f"T{n},2026-03-02 09:{n % 60:02d},open,email,{quoted}\n" for n in range(count))


def _parts(path, tmp_path):
    opened = stream.open_stream(path, path.name, tmp_path)
    return [part.frame for part in opened.parts()]


def test_a_file_of_wide_rows_is_read_in_more_parts_each_about_the_byte_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setenv("CSAT_RADAR_PART_MB", "0.25")
    narrow = _parts(write(tmp_path / "narrow.csv", _tickets(3000, 10)), tmp_path)
    wide = _parts(write(tmp_path / "wide.csv", _tickets(3000, 1000)), tmp_path)
    assert sum(p.height for p in narrow) == sum(p.height for p in wide) == 3000
    assert len(narrow) == 1
    assert len(wide) >= 8  # about 3 MB of subjects in parts of a quarter megabyte
    budget = 0.25 * 1024 * 1024
    # A part closes once it holds the budget: over it by no more than one of Polars' batches.
    assert all(p.estimated_size() < 2 * budget for p in wide)
    lines = [line for p in wide for line in p[stream.LINE].to_list()]
    assert lines == list(range(2, 3002))  # every record once, by its line, in order


def test_a_wide_file_in_parts_by_bytes_keeps_the_accounting(con, tmp_path, monkeypatch):
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setenv("CSAT_RADAR_PART_MB", "0.25")
    text = _tickets(2000, 1000) + "T5,2026-03-02 09:05,open,email,same id again\nT9,not a date,open,email,x\n"
    result = ingest_file(con, write(tmp_path / "wide.csv", text), "tickets", source_tz="UTC")
    assert result.rows_read == 2002
    assert (result.rows_loaded, result.rows_duplicate, result.rows_rejected) == (1999, 0, 3)
    assert result.rows_read == result.rows_loaded + result.rows_updated + result.rows_duplicate + result.rows_rejected
    assert con.sql("SELECT count(*) FROM tickets").fetchall()[0][0] == 1999
    assert con.sql("SELECT count(*) FROM rejected_rows").fetchall()[0][0] == 3


def test_parts_reach_duckdb_as_whole_row_groups_in_order():
    tables = [
        pa.table({"n": range(start, start + size)}) for start, size in ((0, 50_000), (50_000, 200_000), (250_000, 7))
    ]
    batches = list(stream_batches.row_group_batches(tables))
    assert [b.num_rows for b in batches] == [
        stream_batches.ROW_GROUP_ROWS,
        stream_batches.ROW_GROUP_ROWS,
        250_007 - 2 * stream_batches.ROW_GROUP_ROWS,
    ]
    assert [n for b in batches for n in b.column(0).to_pylist()] == list(range(250_007))
    assert list(stream_batches.row_group_batches([pa.table({"n": pa.array([], pa.int64())})])) == []


def test_a_file_in_parts_is_stored_in_whole_row_groups(con, tmp_path, monkeypatch):
    # A partial row group at every part's end was merged, rewritten, when the database closed.
    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setenv("CSAT_RADAR_PART_MB", "8")  # parts of more than a row group, not a multiple of one
    result = ingest_file(con, write(tmp_path / "t.csv", _tickets(300_000, 10)), "tickets", source_tz="UTC")
    assert result.rows_loaded == 300_000
    groups = con.sql(
        "SELECT row_group_id, max(count) FROM pragma_storage_info('tickets') WHERE column_id = 0 GROUP BY 1 ORDER BY 1"
    ).fetchall()
    full = stream_batches.ROW_GROUP_ROWS
    assert [rows for _, rows in groups] == [full, full, 300_000 - 2 * full]


def _settings(con):
    return con.sql("SELECT current_setting('memory_limit'), current_setting('threads')").fetchall()[0]


def _as_bytes(setting: str) -> float:
    number, unit = setting.split()
    return float(number) * {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]


def test_duckdb_memory_and_threads_come_from_the_machine(tmp_path, monkeypatch):
    monkeypatch.delenv("CSAT_RADAR_DUCKDB_MEMORY_MB", raising=False)
    monkeypatch.delenv("CSAT_RADAR_DUCKDB_THREADS", raising=False)
    con = connect(tmp_path / "w.duckdb")
    memory, threads = _settings(con)
    con.close()
    expected = min(max(machine.memory_bytes() // 4, 256 << 20), 1024 << 20)
    assert abs(_as_bytes(memory) - expected) < 0.01 * expected
    assert int(threads) == machine.cores()


def test_duckdb_memory_and_threads_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("CSAT_RADAR_DUCKDB_MEMORY_MB", "300")
    monkeypatch.setenv("CSAT_RADAR_DUCKDB_THREADS", "1")
    con = connect(tmp_path / "w.duckdb")
    memory, threads = _settings(con)
    con.close()
    assert abs(_as_bytes(memory) - 300 * 2**20) < 3 * 2**20
    assert int(threads) == 1


@pytest.mark.parametrize("variable", ["CSAT_RADAR_DUCKDB_MEMORY_MB", "CSAT_RADAR_DUCKDB_THREADS"])
def test_a_bad_setting_is_refused_in_one_line(tmp_path, monkeypatch, variable):
    monkeypatch.setenv(variable, "lots")
    with pytest.raises(IngestError, match=variable):
        connect(tmp_path / "w.duckdb")


@pytest.mark.parametrize(
    ("body", "fits"),
    [
        ('T1,a,"b, ""c""\nd",e\nT2,a,b,c\n', True),
        ("T1,a,b,c\nT2,a,b,c", True),  # the last record needs no line end
        ("T1,a,b,c\n\nT2,a,b,c\n", False),  # a blank line: Python's reader skips it, Polars may not
        ("T1,a,b\nT2,a,b,c\n", False),  # a short record
        ('T1,a,b,c\nT2,a,"b,c\n', False),  # cut inside quotes
        ('T1,a,b"x,c\n', False),  # a stray quote: Python's reader decides
    ],
)
def test_the_byte_scan_agrees_with_pythons_reader(tmp_path, body, fits):
    path = write(tmp_path / "t.csv", "id,a,b,c\n" + body)
    ranges = record_ranges(path, 1, 4, ",", 1 << 20, 1 << 20)
    assert (ranges is not None) is fits
    if fits:
        bad, cut = misshapen_records(path, 1, 4, ",")
        assert (bad.height, cut) == (0, None)
