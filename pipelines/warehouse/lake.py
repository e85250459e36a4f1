"""The lake: the canonical tables as Parquet files, Hive-partitioned by month, with a manifest; DuckDB reads it back.

A lake is what a cluster (Spark, Trino) reads instead of the DuckDB file: ``export_lake`` writes
every table the KPIs read from the raw data (not the marts a cluster builds itself), and
``open_lake`` gives a DuckDB connection on which those tables are views of the files, so the
KPI code computes over the lake exactly what it computes over the warehouse.

Layout of a lake directory ``DIR``:
- ``DIR/manifest.json``: format and version, when it was written, the warehouse's as-of and
  schema version, and per table its columns and types, rows, time column and partitions;
- ``DIR/<table>/month=YYYY-MM/*.parquet``: one folder per month (UTC) of the table's own time
  column; ``DIR/batches/*.parquet`` unpartitioned (a batch is not dated by one moment).

Timestamps stay TIMESTAMPTZ (Parquet ``isAdjustedToUTC``); JSON columns are strings in the
files and JSON again in the views. Row order is whatever the writer chose: nothing reads it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.common.diskspace import is_disk_full
from pipelines.common.errors import IngestError
from pipelines.warehouse.schema import COMPLAINTS, ORDERS, SURVEYS, TICKETS
from pipelines.warehouse.store import in_memory, migrations, schema_version, transaction, warehouse_as_of

FORMAT = "csat-radar-lake"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# A lake being written beside its target: ``.DIR.exporting-PID``, renamed to DIR when whole.
STAGING = ".exporting-"
PARTITION = "month"
# How a DuckDB type is spelled (VARCHAR, TIMESTAMP WITH TIME ZONE, DECIMAL(18,3), VARCHAR[]).
TYPE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(\(\d+(, ?\d+)?\))?(\[\])*")
# Every table the KPIs, the data's as-of, the coverage and the no-data checks read from the raw
# data, with the column whose month (UTC) partitions it; None: one folder, unpartitioned. The
# marts (kpi_cube*, kpi_histogram, kpi_backlog_ages) are not here: a cluster builds its own.
LAKE_TABLES: dict[str, str | None] = {
    TICKETS.name: "created_at",
    SURVEYS.name: "responded_at",
    COMPLAINTS.name: "created_at",
    ORDERS.name: "created_at",
    "batches": None,
}


def _quoted(text: str | Path) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def is_lake(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a lake's manifest (readable or not): what ``--replace`` may write over."""
    manifest = Path(directory) / MANIFEST
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def _check_target(target: Path, replace: bool) -> None:
    """Refuse, in one line naming the target, what an export must not write over."""
    if not target.exists():
        return
    if not target.is_dir():
        raise IngestError(str(target), "is a file, not a directory for a lake")
    if not any(target.iterdir()):
        return
    if not is_lake(target):
        raise IngestError(str(target), "exists, is not empty and holds no lake; choose an empty or new directory")
    if not replace:
        raise IngestError(str(target), "already holds a lake; pass --replace to write a new one over it")


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[dict[str, str]]:
    """The table's columns and their DuckDB types, in the table's order."""
    return [{"name": name, "type": kind} for name, kind, *_ in con.sql(f"DESCRIBE {_identifier(table)}").fetchall()]


def _export_table(con: duckdb.DuckDBPyConnection, table: str, time_column: str | None, staging: Path) -> dict:
    """Write one table under ``staging/<table>`` and say what was written (the manifest's entry)."""
    columns = _columns(con, table)
    # JSON as plain strings, so every Parquet reader sees text (the views make them JSON again).
    select = ", ".join(
        f"{_identifier(c['name'])}::VARCHAR AS {_identifier(c['name'])}"
        if c["type"] == "JSON"
        else _identifier(c["name"])
        for c in columns
    )
    folder = staging / table
    options = "FORMAT parquet, COMPRESSION zstd, RETURN_FILES true"
    if time_column is None:
        folder.mkdir()
        query = f"SELECT {select} FROM {_identifier(table)}"
        target = folder / "data_0.parquet"
    else:
        # The month of the moment in UTC, whatever the session's zone: a partition is the same on every machine.
        month = f"strftime(timezone('UTC', {_identifier(time_column)}), '%Y-%m') AS {PARTITION}"
        query = f"SELECT {select}, {month} FROM {_identifier(table)}"
        target, options = folder, f"{options}, PARTITION_BY ({PARTITION})"
    rows, files = con.sql(f"COPY ({query}) TO {_quoted(target)} ({options})").fetchall()[0]
    if not files:  # an empty table still gets a file, so a reader finds its columns
        folder.mkdir(exist_ok=True)
        con.execute(f"COPY (SELECT {select} FROM {_identifier(table)} LIMIT 0) TO {_quoted(folder / 'empty.parquet')}")
        files = [str(folder / "empty.parquet")]
    return {
        "path": table,
        "columns": columns,
        "rows": int(rows),
        "time_column": time_column,
        "partitioned_by": PARTITION if time_column else None,
        "partitions": _partitions(files, staging, table) if time_column and rows else [],
        "files": _written(con, files, staging),
    }


def _written(con: duckdb.DuckDBPyConnection, files: list[str], staging: Path) -> list[dict]:
    """Each file's path in the lake, size and rows (from its footer): what a reader checks a copy against."""
    found = con.sql(f"SELECT file_name, num_rows FROM parquet_file_metadata([{', '.join(map(_quoted, files))}])")
    return sorted(
        (
            {"path": _inside(name, staging), "bytes": Path(name).stat().st_size, "rows": int(rows)}
            for name, rows in found.fetchall()
        ),
        key=lambda f: f["path"],
    )


def _inside(file: str, staging: Path) -> str:
    return Path(file).resolve().relative_to(staging.resolve()).as_posix()


def _partitions(files: list[str], staging: Path, table: str) -> list[str]:
    """The month folders the files lie in (``month=YYYY-MM``), in order."""
    return sorted({Path(_inside(f, staging)).relative_to(table).parts[0] for f in files})


def export_lake(con: duckdb.DuckDBPyConnection, target: str | os.PathLike, replace: bool = False) -> dict:
    """Write the warehouse's tables to ``target`` as a lake and return its manifest.

    The lake is written beside ``target`` and renamed into place whole, so a failed export leaves
    no half lake (and a previous lake as it was). A target that exists, is not empty and holds no
    lake is refused, as is one holding a lake unless ``replace``; the warehouse is only read.
    """
    target = Path(target).absolute()
    _check_target(target, replace)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_abandoned(target)
    staging = target.with_name(f".{target.name}{STAGING}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)  # this process's own leftover: nothing else writes this name
    try:
        staging.mkdir()
        # One snapshot of the warehouse: every table and the as-of as of the same moment.
        with transaction(con):
            tables = {name: _export_table(con, name, column, staging) for name, column in LAKE_TABLES.items()}
            as_of = warehouse_as_of(con)
            version = schema_version(con)
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "as_of": as_of.isoformat() if as_of else None,
            "schema_version": version,
            "tables": tables,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        _move_into_place(staging, target)
    except (OSError, duckdb.IOException) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        problem = "no space left on its disk" if is_disk_full(exc) else str(exc).strip().splitlines()[0]
        raise IngestError(str(target), f"cannot write the lake ({problem}); nothing was written") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _remove_abandoned(target: Path) -> None:
    """Remove what an export killed midway left beside ``target`` (its process is gone): it is no lake."""
    for leftover in target.parent.glob(f".{target.name}{STAGING}*"):
        pid = leftover.name.rsplit("-", 1)[-1]
        try:
            os.kill(int(pid), 0)  # raises when that process is gone
        except (ValueError, ProcessLookupError):
            shutil.rmtree(leftover, ignore_errors=True)
        except PermissionError:
            pass  # another user's process, still running


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename the finished lake onto ``target``; a previous lake there is moved aside first, then removed."""
    old = target.with_name(f".{target.name}.replaced-{os.getpid()}")
    if target.exists() and any(target.iterdir()):
        shutil.rmtree(old, ignore_errors=True)
        os.rename(target, old)
    elif target.exists():
        target.rmdir()
    try:
        os.rename(staging, target)
    except OSError:
        if old.exists():  # put the previous lake back: the target is never left without one
            os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def read_manifest(directory: str | os.PathLike) -> dict:
    """The lake's manifest, or IngestError naming the directory and what is wrong with it."""
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
    version, latest = manifest.get("schema_version"), migrations()[-1][0]
    if not isinstance(version, int) or version > latest:
        # As a warehouse from a newer CSAT Radar is refused: its tables may mean other things.
        raise IngestError(
            str(folder), f"schema version {version!r} is newer than this CSAT Radar understands ({latest})"
        )
    missing = [name for name in LAKE_TABLES if not isinstance(manifest.get("tables", {}).get(name), dict)]
    if missing:
        raise IngestError(str(folder), f"{MANIFEST} lists no table {', '.join(missing)}")
    return manifest


def _view_sql(folder: Path, name: str, table: dict) -> str:
    """The view of one table: its columns with their warehouse types, from every Parquet file of its folder."""
    odd = [c["type"] for c in table["columns"] if not TYPE_NAME.fullmatch(str(c["type"]))]
    if odd:  # a type is written into SQL: only a type's spelling, never a statement, gets there
        raise ValueError(f"{name} has a column of type {odd[0]!r}")
    columns = ", ".join(f"{_identifier(c['name'])}::{c['type']} AS {_identifier(c['name'])}" for c in table["columns"])
    files = _quoted((folder / table["path"]).as_posix() + "/**/*.parquet")
    return f"CREATE VIEW {_identifier(name)} AS SELECT {columns} FROM read_parquet({files}, hive_partitioning = true)"


def _files_problem(folder: Path, table: dict) -> str | None:
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


def open_lake(directory: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose tables are views of the lake's files, with the warehouse's session settings.

    The KPI code runs on it unchanged: no mart is there, so every answer comes from the raw tables.
    A missing or unreadable manifest, or a table whose files are gone, is an IngestError naming
    the directory and the problem.
    """
    folder = Path(directory).absolute()
    manifest = read_manifest(folder)
    for name, table in manifest["tables"].items():
        try:
            problem = _files_problem(folder, table)
        except (KeyError, TypeError) as exc:
            raise IngestError(str(folder), f"{MANIFEST} lists the files of {name} wrongly ({exc!r})") from None
        if problem:
            raise IngestError(str(folder), f"table {name}: {problem} (a partial copy of the lake?)")
    con = in_memory()
    try:
        for name, table in manifest["tables"].items():
            con.execute(_view_sql(folder, name, table))
        # What a warehouse says of its schema, for code that asks (``store.schema_version``).
        con.execute(
            f"CREATE VIEW schema_version AS SELECT {int(manifest.get('schema_version') or 0)}::INTEGER AS version, "
            f"TIMESTAMPTZ {_quoted(manifest['created_at'])} AS applied_at"
        )
    except (duckdb.Error, KeyError, TypeError, ValueError) as exc:
        con.close()
        raise IngestError(str(folder), f"{MANIFEST} cannot be read as a lake ({str(exc).splitlines()[0]})") from None
    return con
