"""The migrated warehouse matches the schema declared in pipelines/warehouse/schema.py, and migrations are versioned."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.common.errors import IngestError
from pipelines.warehouse import store
from pipelines.warehouse.schema import TABLES
from pipelines.warehouse.store import connect, migrations, schema_version

DUCKDB_TYPES = {"VARCHAR": "VARCHAR", "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE", "BOOLEAN": "BOOLEAN",
                "INTEGER": "INTEGER", "BIGINT": "BIGINT", "DOUBLE": "DOUBLE"}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_tables_match_declared_columns(con, kind):
    table = TABLES[kind]
    rows = con.sql(
        f"SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '{table.name}' "
        "ORDER BY ordinal_position"
    ).fetchall()
    declared = [(c.name, DUCKDB_TYPES[c.sql_type]) for c in table.columns]
    assert rows[: len(declared)] == declared
    assert [r[0] for r in rows[len(declared) :]] == ["attributes", "row_hash", "batch_id"]
    assert all(c.description for c in table.columns)


def test_reopening_applies_nothing_twice(db_path):
    connect(db_path).close()
    con = connect(db_path)
    assert schema_version(con) == migrations()[-1][0]
    assert con.sql("SELECT count(*) FROM schema_version").fetchall() == [(len(migrations()),)]
    con.close()


def test_a_newer_warehouse_is_refused(db_path):
    connect(db_path).close()
    raw = duckdb.connect(str(db_path))
    raw.execute("INSERT INTO schema_version VALUES (999, now())")
    raw.close()
    with pytest.raises(IngestError, match="schema version 999 is newer"):
        connect(db_path)


TICKETS_CSV = "ticket id,created at,status,channel\nT1,2026-03-02 09:00,open,email\nT2,2026-03-02 10:00,solved,chat\n"


def test_a_warehouse_from_before_version_5_is_migrated_and_its_rows_still_match(db_path, tmp_path):
    """Version 5 drops the key indexes and changes the row hash: old rows must still be recognised."""
    from pipelines.ingest import ingest_file
    from tests.conftest import write

    old = duckdb.connect(str(db_path))
    old.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    for version, path in migrations():
        if version < 5:
            old.execute(path.read_text(encoding="utf-8"))
            old.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    old.execute(
        """INSERT INTO tickets (ticket_id, created_at, status, channel, row_hash, batch_id)
           VALUES ('T1', TIMESTAMPTZ '2026-03-02 09:00:00+00', 'open', 'email', 'an md5 of old', 1)"""
    )
    old.close()
    con = connect(db_path)
    assert schema_version(con) == migrations()[-1][0]
    result = ingest_file(con, write(tmp_path / "t.csv", TICKETS_CSV), "tickets", source_tz="UTC")
    assert (result.rows_loaded, result.rows_updated, result.rows_duplicate) == (1, 0, 1)  # T1 is the same row
    assert con.sql("SELECT count(*), count(DISTINCT ticket_id) FROM tickets").fetchall() == [(2, 2)]
    con.close()


def test_row_hashes_are_recomputed_when_the_engine_changes(db_path, tmp_path):
    from pipelines.ingest import ingest_file
    from tests.conftest import write

    con = connect(db_path)
    ingest_file(con, write(tmp_path / "t.csv", TICKETS_CSV), "tickets", source_tz="UTC")
    con.execute("UPDATE tickets SET row_hash = 'from another engine'")
    con.execute("UPDATE warehouse_meta SET value = 'duckdb 0.0' WHERE key = 'row_hash_engine'")
    con.close()
    con = connect(db_path)
    again = ingest_file(con, tmp_path / "t.csv", "tickets", source_tz="UTC")
    assert (again.rows_loaded, again.rows_updated, again.rows_duplicate) == (0, 0, 2)
    con.close()


def test_migrations_are_numbered_once_each_and_a_repeated_number_is_refused(tmp_path, monkeypatch):
    numbers = [number for number, _ in store.migrations()]
    assert numbers == list(range(1, len(numbers) + 1))
    for number, name in ((1, "first"), (2, "second"), (2, "again")):
        (tmp_path / f"{number:03d}_{name}.sql").write_text("SELECT 1;", encoding="utf-8")
    monkeypatch.setattr(store, "MIGRATIONS", tmp_path)
    with pytest.raises(RuntimeError, match=r"numbered 1\.\.3 once each, found \[1, 2, 2\]"):
        store.migrations()
