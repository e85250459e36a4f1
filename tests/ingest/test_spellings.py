"""Segment values differing only in case or spacing load as one segment, the mapping shown, the row's own kept.

Files are written as a user's exports and loaded with the real command line into a fresh warehouse.
"""

from __future__ import annotations

import json

import duckdb
import pytest

from metrics.kpis.catalog import DIMENSIONS
from pipelines.ingest import ingest_file
from pipelines.read import stream
from pipelines.warehouse.schema import SEGMENT_COLUMNS
from tests.conftest import run_cli, write

HEADER = "Case Number,Opened,Source,Support Group\n"


def tickets(first: int, channels: list[str], team: str = "Billing") -> str:
    return HEADER + "".join(
        f"C-{first + i},2026-04-0{1 + i % 9} 10:{i % 60:02d},{channel},{team}\n" for i, channel in enumerate(channels)
    )


def load(db, path, kind: str = "tickets") -> dict:
    done = run_cli("ingest", "--db", str(db), "--kind", kind, "--tz", "UTC", "--json", str(path))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    accounted = result["rows_loaded"] + result["rows_updated"] + result["rows_duplicate"] + result["rows_rejected"]
    assert accounted == result["rows_read"]
    return result


def channels(db, table: str = "tickets") -> dict[str, int]:
    with duckdb.connect(str(db), read_only=True) as con:
        return dict(con.sql(f"SELECT channel, count(*) FROM {table} GROUP BY ALL").fetchall())


def test_values_differing_only_in_case_or_spacing_are_one_segment_in_the_files_most_frequent_spelling(tmp_path):
    export = write(
        tmp_path / "export.csv",
        tickets(1, ["Web", "Web", "Web", "web", " WEB ", "PHONE", "phone", "Phone", "e-mail", "Email"])
        + "C-99,2026-04-09 11:00,Live  chat,billing  \n",
    )
    db = tmp_path / "warehouse.duckdb"

    shown = run_cli("ingest", "--db", str(db), "--kind", "tickets", "--tz", "UTC", str(export))

    assert shown.returncode == 0, shown.stderr
    # Spellings, not cases, stay apart: e-mail is not Email.
    assert channels(db) == {"Web": 5, "PHONE": 3, "e-mail": 1, "Email": 1, "Live chat": 1}
    assert "11 read as tickets" in shown.stdout and "11 loaded" in shown.stdout
    assert "channel: WEB, web → Web (2 rows)" in shown.stdout
    assert "channel: Phone, phone → PHONE (2 rows)" in shown.stdout  # a tie: the first in sort order
    assert "channel: Live  chat → Live chat (1 row)" in shown.stdout
    assert "team: billing → Billing (1 row)" in shown.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        kept = dict(con.sql("SELECT ticket_id, attributes FROM tickets").fetchall())
        recorded = json.loads(con.sql("SELECT mapping FROM batches").fetchall()[0][0])["spellings"]
    # Each row's own spelling stays with it when it was changed, and only then.
    assert json.loads(kept["C-4"]) == {"channel (as written)": "web"}
    assert json.loads(kept["C-99"]) == {"channel (as written)": "Live  chat", "team (as written)": "billing"}
    assert kept["C-1"] is None
    # The batch history keeps what was merged.
    assert {"column": "channel", "canonical": "Web", "spellings": ["WEB", "web"], "rows": 2} in recorded


def test_the_spelling_the_warehouse_holds_wins_so_two_loads_make_one_segment_in_either_order(tmp_path):
    mostly_title = write(tmp_path / "march.csv", tickets(1, ["Web", "Web", "web"]))
    mostly_lower = write(tmp_path / "april.csv", tickets(10, ["web", "web", "WEB"]))
    for first, second in ((mostly_title, mostly_lower), (mostly_lower, mostly_title)):
        db = tmp_path / f"{first.stem}-first.duckdb"
        load(db, first)
        result = load(db, second)

        spelling = {"march": "Web", "april": "web"}[first.stem]
        assert channels(db) == {spelling: 6}
        merged = {m["canonical"]: sorted(m["spellings"]) for m in result["merged_spellings"]}
        assert spelling in merged and spelling not in merged[spelling]

    # A complaint's channel is the same segment as a ticket's: the tickets' spelling holds there too.
    db = tmp_path / "march-first.duckdb"
    complaints = write(tmp_path / "complaints.csv", "complaint_id,created_at,channel\nK-1,2026-04-03 10:00,WEB\n")
    result = load(db, complaints, kind="complaints")
    assert channels(db, "complaints") == {"Web": 1}
    assert result["merged_spellings"] == [{"column": "channel", "canonical": "Web", "spellings": ["WEB"], "rows": 1}]


def test_loading_the_same_file_again_changes_nothing(tmp_path):
    export = write(tmp_path / "export.csv", tickets(1, ["Web", "web", "WEB", "Chat"]))
    db = tmp_path / "warehouse.duckdb"
    load(db, export)

    again = load(db, export)

    assert (again["rows_read"], again["rows_duplicate"]) == (4, 4)
    assert channels(db) == {"WEB": 3, "Chat": 1}


def test_the_segment_columns_folded_at_ingest_are_the_kpis_dimensions():
    assert set(SEGMENT_COLUMNS) == set(DIMENSIONS)


@pytest.mark.parametrize("parts", [None, 2], ids=["whole file", "streamed in parts of two"])
def test_a_file_read_in_parts_keeps_the_spelling_of_the_first_part_with_the_value(con, tmp_path, monkeypatch, parts):
    if parts:
        monkeypatch.setattr(stream, "STREAM_BYTES", 0)
        monkeypatch.setattr(stream, "STREAM_ROWS", parts)
    export = write(tmp_path / "export.csv", tickets(1, ["web", "web", "Web", "Web", "Web", "WEB"]))

    result = ingest_file(con, export, "tickets", source_tz="UTC")

    spelling = "web" if parts else "Web"  # the first part's most frequent, or the whole file's
    assert dict(con.sql("SELECT channel, count(*) FROM tickets GROUP BY ALL").fetchall()) == {spelling: 6}
    assert [(m.column, m.canonical, sum(1 for _ in m.spellings), m.rows) for m in result.merged_spellings] == [
        ("channel", spelling, 2, 6 - {"web": 2, "Web": 3}[spelling])
    ]
    assert (result.rows_read, result.rows_loaded) == (6, 6)
