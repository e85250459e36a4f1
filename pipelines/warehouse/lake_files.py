"""What a lake's files say, and the DuckDB views over them: read by ``lake.py`` and, for a lake's sidecar, by ``store``.

Kept apart from ``lake.py`` (which writes lakes and imports ``store``) so that ``store.connect``
can give every session of a lake's sidecar file the lake's tables without an import cycle.

A lake ``DIR`` (see ``lake.py``) holds the raw tables and, once built (``csat-radar marts
build``), its marts: ``DIR/marts/<table>/*.parquet`` for ``kpi_cube``, ``kpi_histogram`` and
``kpi_backlog_ages``, with ``DIR/marts/manifest.json`` saying what they were built for (the
values of the warehouse's ``kpi_cube_meta``) and from which export of the lake.

A sidecar is a DuckDB file holding what the app and the radar write for a lake (users, audit,
crisis log, notifications): migrated as any warehouse, plus a one-row table ``lake_link``
naming the lake. Each session on it gets TEMP views of the lake's tables and marts, which
DuckDB reads before the file's own (empty) tables of the same names; so every page, the radar
and the report work unchanged, and a re-export or rebuilt marts are seen by the next session.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import duckdb

from pipelines.common.errors import IngestError
from pipelines.warehouse.schema import COMPLAINTS, ORDERS, SURVEYS, TICKETS

FORMAT = "csat-radar-lake"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# How a DuckDB type is spelled (VARCHAR, TIMESTAMP WITH TIME ZONE, DECIMAL(18,3), VARCHAR[]).
TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(\(\d+(, ?\d+)?\))?(\[\])*")
# Every table the KPIs, the data's as-of, the coverage and the no-data checks read from the raw
# data, with the column whose month (UTC) partitions it; None: one folder, unpartitioned. The
# marts (below) are not here: a cluster builds its own.
LAKE_TABLES: dict[str, str | None] = {
    TICKETS.name: "created_at",
    SURVEYS.name: "responded_at",
    COMPLAINTS.name: "created_at",
    ORDERS.name: "created_at",
    "batches": None,
}
MARTS = "marts"
MARTS_FORMAT = "csat-radar-marts"
MARTS_VERSION = 1
# The marts an engine writes as Parquet; ``kpi_cube_meta`` is their manifest, seen as a one-row view.
MART_TABLES = ("kpi_cube", "kpi_histogram", "kpi_backlog_ages")
META_TABLE = "kpi_cube_meta"
LINK_TABLE = "lake_link"
# Set by ``csat-radar serve --lake`` for the app: the lake its sidecar (CSAT_RADAR_DB) reads.
LAKE_ENV = "CSAT_RADAR_LAKE"


def quoted(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_manifest(directory: str | os.PathLike, latest: int) -> dict:
    """The lake's manifest, or IngestError naming the directory and what is wrong with it.

    ``latest`` is the newest schema version this CSAT Radar knows (``store.migrations``).
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise IngestError(str(folder), "no such directory (make a lake with: csat-radar lake export --to DIR)")
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IngestError(str(folder), f"not a lake: no {MANIFEST} (make one with: csat-radar lake export)") from None
    except (OSError, ValueError) as exc:
        raise IngestError(str(folder), f"{MANIFEST} cannot be read ({str(exc).splitlines()[0]})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IngestError(str(folder), f"{MANIFEST} is not a CSAT Radar lake's manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IngestError(
            str(folder), f"lake format {manifest.get('format_version')!r}; this CSAT Radar reads {FORMAT_VERSION}"
        )
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > latest:
        # As a warehouse from a newer CSAT Radar is refused: its tables may mean other things.
        raise IngestError(
            str(folder), f"schema version {version!r} is newer than this CSAT Radar understands ({latest})"
        )
    missing = [name for name in LAKE_TABLES if not isinstance(manifest.get("tables", {}).get(name), dict)]
    if missing:
        raise IngestError(str(folder), f"{MANIFEST} lists no table {', '.join(missing)}")
    return manifest


def _typed(columns: list[tuple[str, str]], table: str) -> str:
    """The columns cast to their types; only a type's spelling, never a statement, gets into the SQL."""
    odd = [kind for _, kind in columns if not TYPE_NAME.fullmatch(str(kind))]
    if odd:
        raise ValueError(f"{table} has a column of type {odd[0]!r}")
    return ", ".join(f"{identifier(name)}::{kind} AS {identifier(name)}" for name, kind in columns)


def _create(name: str, temp: bool) -> str:
    return f"CREATE OR REPLACE {'TEMP ' if temp else ''}VIEW {identifier(name)}"


def view_sql(folder: Path, name: str, table: dict, temp: bool = False) -> str:
    """The view of one table: its columns with their warehouse types, from every Parquet file of its folder."""
    columns = _typed([(c["name"], c["type"]) for c in table["columns"]], name)
    files = quoted((folder / table["path"]).as_posix() + "/**/*.parquet")
    return f"{_create(name, temp)} AS SELECT {columns} FROM read_parquet({files}, hive_partitioning = true)"


def files_problem(folder: Path, table: dict) -> str | None:
    """What is wrong with a table's files on disk against the manifest (missing, another size); None: nothing."""
    files = table.get("files")
    if not isinstance(files, list) or not files:
        return f"no file listed for {table.get('path')}/"
    absent = [f["path"] for f in files if not (folder / f["path"]).is_file()]
    if absent:
        return f"file {absent[0]} missing" + (f" and {len(absent) - 1} more" if len(absent) > 1 else "")
    for f in files:
        size = (folder / f["path"]).stat().st_size
        if size != f["bytes"]:
            return f"file {f['path']} is {size:,} bytes, the manifest says {f['bytes']:,}"
    return None


def check_files(folder: Path, manifest: dict) -> None:
    """IngestError when a table's files are not as the manifest lists them (a partial copy of the lake)."""
    for name, table in manifest["tables"].items():
        try:
            problem = files_problem(folder, table)
        except (KeyError, TypeError) as exc:
            raise IngestError(str(folder), f"{MANIFEST} lists the files of {name} wrongly ({exc!r})") from None
        if problem:
            raise IngestError(str(folder), f"table {name}: {problem} (a partial copy of the lake?)")


def read_marts(folder: Path, lake: dict) -> tuple[dict | None, str | None]:
    """The marts' manifest when they can answer for this lake, else None and why (a line a command can show)."""
    build = f"csat-radar marts build --lake {folder}"
    try:
        marts = json.loads((folder / MARTS / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no marts in {folder} (build them: {build}); the KPIs are computed from the raw files"
    except (OSError, ValueError) as exc:
        return None, f"{folder / MARTS / MANIFEST} cannot be read ({str(exc).splitlines()[0]}); not used"
    if not isinstance(marts, dict) or marts.get("format") != MARTS_FORMAT or marts.get("version") != MARTS_VERSION:
        return None, f"{folder / MARTS / MANIFEST} is not marts this CSAT Radar reads; not used"
    if marts.get("lake_created_at") != lake.get("created_at"):
        # A re-export may hold other rows: marts of the lake as it was must not answer for it.
        return None, (
            f"the marts in {folder} were built from an earlier export of the lake ({marts.get('lake_created_at')}, "
            f"the lake is of {lake.get('created_at')}); not used, rebuild them: {build}"
        )
    empty = [name for name in MART_TABLES if not any((folder / MARTS / name).glob("*.parquet"))]
    if empty:
        return None, f"the marts in {folder} have no file for {', '.join(empty)}; not used, rebuild them: {build}"
    return marts, None


def mart_select(folder: Path, name: str, columns: list[tuple[str, str]]) -> str:
    """A mart as the warehouse's table: its columns cast to the warehouse's types (Spark writes INT, LONG ...)."""
    files = quoted((folder / MARTS / name).as_posix() + "/*.parquet")
    return f"SELECT {_typed(columns, name)} FROM read_parquet({files})"


def meta_select(marts: dict) -> str:
    """``kpi_cube_meta`` of marts: one row, what ``metrics.kpis.cube.cube_state`` checks before reading them."""
    metrics = ",".join(str(m) for m in marts.get("metrics") or [])
    return (
        f"SELECT {quoted(marts['conventions_key'])}::VARCHAR AS conventions_key, "
        f"{quoted(marts['data_version'])}::VARCHAR AS data_version, "
        f"{quoted(marts['built_as_of'])}::TIMESTAMPTZ AS built_as_of, "
        f"{quoted(marts['built_at'])}::TIMESTAMPTZ AS built_at, {quoted(metrics)}::VARCHAR AS metrics"
    )


def _mart_views(con: duckdb.DuckDBPyConnection, folder: Path, marts: dict, columns: dict, temp: bool) -> str | None:
    """The marts' views, when every one of them reads; else none, and why (the raw files answer instead)."""
    try:
        selects = {name: mart_select(folder, name, columns[name]) for name in MART_TABLES}
        selects[META_TABLE] = meta_select(marts)
        for select in selects.values():  # bound and the files' columns read, before any view replaces a table
            con.execute(f"SELECT * FROM ({select}) LIMIT 0")
    except (duckdb.Error, KeyError, TypeError, ValueError) as exc:
        problem = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"the marts in {folder} cannot be read ({problem}); not used, rebuild them"
    for name, select in selects.items():
        con.execute(f"{_create(name, temp)} AS {select}")
    return None


def mart_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[str, str]]]:
    """The marts' (and ``kpi_cube_meta``'s) columns and types as the connection's migrated tables hold them."""
    tables = (*MART_TABLES, META_TABLE)
    found = con.sql(
        f"""SELECT table_name, column_name, data_type FROM duckdb_columns()
            WHERE database_name = current_database()
              AND table_name IN ({", ".join(map(quoted, tables))})
            ORDER BY table_name, column_index"""
    ).fetchall()
    columns: dict[str, list[tuple[str, str]]] = {name: [] for name in tables}
    for table, column, kind in found:
        columns[table].append((column, kind))
    return columns


def create_views(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    manifest: dict,
    columns: dict[str, list[tuple[str, str]]] | None,
    temp: bool = False,
) -> str | None:
    """The lake's tables as views on ``con``, and its marts when they answer for it (``columns``: their types).

    Returns why the marts are not used (None when they are, or when ``columns`` is None: not asked).
    """
    try:
        for name, table in manifest["tables"].items():
            con.execute(view_sql(folder, name, table, temp))
        if columns is None:
            return None
        marts, why_not = read_marts(folder, manifest)
        if marts is not None:
            why_not = _mart_views(con, folder, marts, columns, temp)
    except (duckdb.Error, KeyError, TypeError, ValueError) as exc:
        raise IngestError(str(folder), f"{MANIFEST} cannot be read as a lake ({str(exc).splitlines()[0]})") from None
    return why_not


def linked_lake(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The lake this warehouse file is the sidecar of; None for a warehouse of its own."""
    linked = con.sql(
        f"""SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()
            AND table_name = {quoted(LINK_TABLE)}"""
    ).fetchall()[0][0]
    if not linked:
        return None
    found = con.sql(f"SELECT directory FROM main.{LINK_TABLE}").fetchall()
    return Path(found[0][0]) if found else None


def attach_linked(con: duckdb.DuckDBPyConnection, latest: int) -> str | None:
    """On a lake's sidecar, this session's views of the lake (and its marts); nothing on a warehouse.

    Returns why the marts are not used, as ``create_views``.
    """
    lake = linked_lake(con)
    if lake is None:
        return None
    manifest = read_manifest(lake, latest)
    check_files(lake, manifest)
    return create_views(con, lake, manifest, mart_columns(con), temp=True)


def refuse_lake(con: duckdb.DuckDBPyConnection) -> None:
    """Loading or undoing into a lake's sidecar is refused in one line: its data is the lake's files."""
    lake = linked_lake(con)
    if lake is not None:
        raise IngestError(f"{lake} is a lake", "load into the warehouse and export it again")


def lake_signature(directory: str | os.PathLike) -> tuple:
    """What the lake's and its marts' manifests look like now: a new export or new marts change it (a stat each)."""
    signature = []
    for manifest in (Path(directory) / MANIFEST, Path(directory) / MARTS / MANIFEST):
        try:
            found = manifest.stat()
            signature.append((str(manifest), found.st_mtime_ns, found.st_size, found.st_ino))
        except OSError:
            signature.append((str(manifest), None))
    return tuple(signature)
