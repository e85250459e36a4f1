"""The migrated warehouse matches the schema declared in pipelines/schema.py, and migrations are versioned."""

from __future__ import annotations

import duckdb
import pytest

from pipelines.errors import IngestError
from pipelines.schema import TABLES
from pipelines.warehouse import connect, migrations, schema_version

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
