"""Undoing a batch: its new rows leave, the versions it replaced come back, and order is enforced."""

from __future__ import annotations

import pytest

from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.undo import undo_batch
from tests.conftest import run_cli, write

FIRST = """ticket id,created at,channel,status
T1,2026-03-02 09:00,email,open
T2,2026-03-02 10:00,chat,open
"""
SECOND = """ticket id,created at,channel,status
T1,2026-03-02 09:00,email,solved
T2,2026-03-02 10:00,chat,open
T3,2026-03-03 10:00,web,open
"""


def tickets(con) -> dict[str, str]:
    return dict(con.sql("SELECT ticket_id, status FROM tickets").fetchall())


def test_undo_removes_new_rows_and_restores_replaced_ones(con, tmp_path):
    first = ingest_file(con, write(tmp_path / "a.csv", FIRST), "tickets", source_tz="UTC")
    second = ingest_file(con, write(tmp_path / "b.csv", SECOND), "tickets", source_tz="UTC")
    assert (second.rows_loaded, second.rows_updated, second.rows_duplicate) == (1, 1, 1)
    assert tickets(con) == {"T1": "resolved", "T2": "open", "T3": "open"}

    with pytest.raises(IngestError, match=f"later batch {second.batch_id} changed its rows"):
        undo_batch(con, first.batch_id)
    assert undo_batch(con, second.batch_id) == {"removed": 1, "restored": 1}
    assert tickets(con) == {"T1": "open", "T2": "open"}
    assert con.sql(f"SELECT status FROM batches WHERE batch_id = {second.batch_id}").fetchall() == [("undone",)]
    with pytest.raises(IngestError, match="cannot be undone: it is undone"):
        undo_batch(con, second.batch_id)

    assert undo_batch(con, first.batch_id) == {"removed": 2, "restored": 0}
    assert tickets(con) == {}
    with pytest.raises(IngestError, match="no such batch"):
        undo_batch(con, 999)


def test_reloading_after_an_undo_loads_again(con, tmp_path):
    path = write(tmp_path / "a.csv", FIRST)
    batch = ingest_file(con, path, "tickets", source_tz="UTC")
    undo_batch(con, batch.batch_id)
    again = ingest_file(con, path, "tickets", source_tz="UTC")
    assert again.rows_loaded == 2 and tickets(con) == {"T1": "open", "T2": "open"}


def test_undo_command(tmp_path):
    db = tmp_path / "w.duckdb"
    loaded = run_cli("ingest", str(write(tmp_path / "a.csv", FIRST)), "--kind", "tickets", "--db", str(db),
                     "--tz", "UTC", "--json")  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    batch = __import__("json").loads(loaded.stdout.splitlines()[0])["batch_id"]
    result = run_cli("undo", str(batch), "--db", str(db))
    assert result.returncode == 0 and "removed 2 rows" in result.stdout
    again = run_cli("undo", str(batch), "--db", str(db))
    assert again.returncode == 2 and "cannot be undone" in again.stderr
