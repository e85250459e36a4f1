"""The DuckDB warehouse: where it lives, and its schema, migrated forward on every open."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from pipelines.errors import IngestError

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "CSAT_RADAR_DB"
MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_db_path(explicit: str | os.PathLike | None = None) -> Path:
    """--db wins, then the CSAT_RADAR_DB environment variable, then data/warehouse.duckdb."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    return DEFAULT_DB


def migrations() -> list[tuple[int, Path]]:
    """Numbered SQL files in pipelines/migrations, in order."""
    found = []
    for path in MIGRATIONS.glob("*.sql"):
        found.append((int(path.name.split("_", 1)[0]), path))
    return sorted(found)


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'").fetchall()[
        0
    ][0]
    if not exists:
        return 0
    return con.sql("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration newer than the file's version, each in its own transaction."""
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    current = schema_version(con)
    latest = migrations()[-1][0]
    if current > latest:
        raise IngestError("warehouse", f"schema version {current} is newer than this CSAT Radar understands ({latest})")
    for version, path in migrations():
        if version <= current:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return latest


def connect(db_path: str | os.PathLike | None = None, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse and bring its schema up to date."""
    path = resolve_db_path(db_path)
    if read_only and path.exists():
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.Error as exc:
        raise IngestError(str(path), f"cannot open the warehouse: {str(exc).splitlines()[0]}") from exc
    migrate(con)
    from pipelines.load import rehash  # load needs the schema this module migrates to

    rehash(con)
    return con


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows in each canonical table, for the landing page and the command line."""
    counts = {}
    for table in ("tickets", "survey_responses", "complaints", "batches", "rejected_rows"):
        counts[table] = con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return counts
