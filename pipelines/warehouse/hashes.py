"""Row hashes of canonical records: the SQL that computes one, and recomputing them all after an engine upgrade.

Grain: one hash per record of a canonical table (and of its history), stored in its ``row_hash``.
A load compares hashes to tell a changed record from an unchanged one.
"""

from __future__ import annotations

import duckdb

from pipelines.warehouse.schema import TABLES, Table

HASH_ENGINE = f"duckdb {duckdb.__version__}"


def row_hash_sql(table: Table, alias: str = "") -> str:
    """The row hash of a canonical record: DuckDB's hash of every column, each cast to its declared type.

    Fast (a tenth of md5 over JSON) but only stable within one DuckDB version, so the warehouse
    records which engine computed its hashes and ``rehash`` recomputes them after an upgrade.
    """
    prefix = f"{alias}." if alias else ""
    parts = [f"{prefix}{c.name}::{c.sql_type}" for c in table.columns] + [f"{prefix}attributes::VARCHAR"]
    return f"hash({', '.join(parts)})::VARCHAR"


def rehash(con: duckdb.DuckDBPyConnection) -> bool:
    """Recompute every row hash when this warehouse's were made by another engine; True if it did.

    The caller holds the transaction (``store.connect`` opens one), so the hashes and the
    engine recorded with them change together.
    """
    recorded = con.sql("SELECT value FROM warehouse_meta WHERE key = 'row_hash_engine'").fetchall()
    if recorded and recorded[0][0] == HASH_ENGINE:
        return False
    for table in TABLES.values():
        for name in (table.name, f"{table.name}_history"):
            con.execute(f"UPDATE {name} SET row_hash = {row_hash_sql(table)}")
    con.execute("DELETE FROM warehouse_meta WHERE key = 'row_hash_engine'")
    con.execute("INSERT INTO warehouse_meta VALUES ('row_hash_engine', ?)", [HASH_ENGINE])
    return True
