"""Files that would crash a reader (docs/reliability.md, "Files that would crash a reader"): nesting that
segfaults Polars, source columns named like internal ones, a field of hundreds of megabytes, and
Parquet dates past the calendar Polars can print. Each is refused in one line naming the file, or
loaded with the bad rows rejected and their reasons; never a crash, a traceback or a silent drop."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.ingest import ingest_file

INTERNAL = ["__line", "__key", "__order", "__raw", "__lines", "__reason", "__reason_column", "__by_0"]


def _read_as_large(monkeypatch) -> None:
    from pipelines import readers

    monkeypatch.setattr(readers, "STREAM_BYTES", 0)
    monkeypatch.setattr(readers, "STREAM_ROWS", 2)


@pytest.fixture(params=["large", "small"])
def either_size(request, monkeypatch):
    if request.param == "large":
        _read_as_large(monkeypatch)


def test_source_columns_named_like_internal_ones_are_kept(con, tmp_path, either_size):
    path = tmp_path / "internal.csv"
    header = ",".join(["ticket id", "created at", *INTERNAL])
    rows = [",".join(["T1", "2026-03-02 09:00", *(f"{n}-1" for n in INTERNAL)]),
            ",".join(["T2", "2026-03-02 09:00", *(f"{n}-2" for n in INTERNAL)]),
            ",".join(["T3", "not a date", *(f"{n}-3" for n in INTERNAL)])]  # fmt: skip
    path.write_text("\n".join([header, *rows]) + "\n")
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    stored = con.sql("SELECT ticket_id, attributes FROM tickets ORDER BY 1").fetchall()
    assert [(key, json.loads(attributes)) for key, attributes in stored] == [
        (f"T{n}", {name: f"{name}-{n}" for name in INTERNAL}) for n in (1, 2)
    ]
    line, raw = con.sql("SELECT line_number, raw_record FROM rejected_rows").fetchall()[0]
    assert (line, json.loads(raw)) == (4, {"ticket id": "T3", "created at": "not a date",
                                           **{name: f"{name}-3" for name in INTERNAL}})  # fmt: skip


@pytest.mark.parametrize("name", ["internal.jsonl", "internal.json", "internal.parquet"])
def test_keys_and_parquet_columns_named_like_internal_ones_are_kept(con, tmp_path, name):
    record = {"ticket id": "T1", "created at": "2026-03-02 09:00", **{n: f"{n}-1" for n in INTERNAL}}
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist([record]), path)
    else:
        path.write_text(json.dumps([record]) if name.endswith(".json") else json.dumps(record) + "\n")
    assert ingest_file(con, path, "tickets", source_tz="UTC").rows_loaded == 1
    attributes = con.sql("SELECT attributes FROM tickets").fetchall()[0][0]
    assert json.loads(attributes) == {n: f"{n}-1" for n in INTERNAL}
