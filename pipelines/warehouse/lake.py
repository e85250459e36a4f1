"""The lake: the canonical tables as Parquet files, Hive-partitioned by month, with a manifest; DuckDB reads it back.

A lake is what a cluster (Spark, Trino) reads instead of the DuckDB file: ``export_lake`` writes
every table the KPIs read from the raw data (not the marts a cluster builds itself), and
``open_lake`` gives a DuckDB connection on which those tables are views of the files, so the
KPI code computes over the lake exactly what it computes over the warehouse.

Layout of a lake directory ``DIR``:
- ``DIR/manifest.json``: format and version, when it was written, the warehouse's as-of and
  schema version, and per table its columns and types, rows, time column and partitions;
- ``DIR/<table>/month=YYYY-MM/*.parquet``: one folder per month (UTC) of the table's own time
  column; ``DIR/batches/*.parquet`` unpartitioned (a batch is not dated by one moment);
- ``DIR/marts/``, once built (``write_marts``, by DuckDB or Spark): the KPI cube, duration
  histograms and backlog ages as Parquet, with their own manifest (see ``lake_files``).

For the app and the radar, which also write their own state, a lake has a sidecar DuckDB file
(``open_sidecar``): the state's tables are its own, the lake's tables views of the files.

Timestamps stay TIMESTAMPTZ (Parquet ``isAdjustedToUTC``); JSON columns are strings in the
files and JSON again in the views. Row order is whatever the writer chose: nothing reads it.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.common.diskspace import is_disk_full
from pipelines.common.errors import IngestError
from pipelines.warehouse.lake_files import (
    FORMAT,
    FORMAT_VERSION,
    LAKE_TABLES,
    LINK_TABLE,
    MANIFEST,
    MART_TABLES,
    MARTS,
    MARTS_FORMAT,
    MARTS_VERSION,
    attach_linked,
    check_files,
    create_views,
    identifier,
    linked_lake,
    mart_columns,
    quoted,
)
from pipelines.warehouse.lake_files import read_manifest as _read_manifest
from pipelines.warehouse.store import (
    connect,
    in_memory,
    migrate,
    migrations,
    print_waiting,
    schema_version,
    transaction,
    warehouse_as_of,
)

# A lake being written beside its target: ``.DIR.exporting-PID``, renamed to DIR when whole.
STAGING = ".exporting-"
PARTITION = "month"


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
    return [{"name": name, "type": kind} for name, kind, *_ in con.sql(f"DESCRIBE {identifier(table)}").fetchall()]


def _export_table(con: duckdb.DuckDBPyConnection, table: str, time_column: str | None, staging: Path) -> dict:
    """Write one table under ``staging/<table>`` and say what was written (the manifest's entry)."""
    columns = _columns(con, table)
    # JSON as plain strings, so every Parquet reader sees text (the views make them JSON again).
    select = ", ".join(
        f"{identifier(c['name'])}::VARCHAR AS {identifier(c['name'])}" if c["type"] == "JSON" else identifier(c["name"])
        for c in columns
    )
    folder = staging / table
    options = "FORMAT parquet, COMPRESSION zstd, RETURN_FILES true"
    if time_column is None:
        folder.mkdir()
        query = f"SELECT {select} FROM {identifier(table)}"
        target = folder / "data_0.parquet"
    else:
        # The month of the moment in UTC, whatever the session's zone: a partition is the same on every machine.
        month = f"strftime(timezone('UTC', {identifier(time_column)}), '%Y-%m') AS {PARTITION}"
        query = f"SELECT {select}, {month} FROM {identifier(table)}"
        target, options = folder, f"{options}, PARTITION_BY ({PARTITION})"
    rows, files = con.sql(f"COPY ({query}) TO {quoted(target)} ({options})").fetchall()[0]
    if not files:  # an empty table still gets a file, so a reader finds its columns
        folder.mkdir(exist_ok=True)
        con.execute(f"COPY (SELECT {select} FROM {identifier(table)} LIMIT 0) TO {quoted(folder / 'empty.parquet')}")
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
    found = con.sql(f"SELECT file_name, num_rows FROM parquet_file_metadata([{', '.join(map(quoted, files))}])")
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
    with _written_whole(target, str(target), "cannot write the lake ({}); nothing was written") as staging:
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
    return manifest


@contextmanager
def _written_whole(target: Path, where: str, failure: str) -> Iterator[Path]:
    """A staging folder beside ``target``, moved into its place when the block ends, removed if it fails.

    ``failure`` (with ``{}`` for the problem) is the one line a disk or file error becomes.
    """
    staging = target.with_name(f".{target.name}{STAGING}{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)  # this process's own leftover: nothing else writes this name
    try:
        staging.mkdir()
        yield staging
        _move_into_place(staging, target)
    except (OSError, duckdb.IOException) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        problem = "no space left on its disk" if is_disk_full(exc) else str(exc).strip().splitlines()[0]
        raise IngestError(where, failure.format(problem)) from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
    return _read_manifest(directory, migrations()[-1][0])


@functools.cache
def warehouse_mart_columns() -> dict[str, list[tuple[str, str]]]:
    """The marts' columns and types as the migrations create them: every reader and writer of marts casts to these."""
    con = in_memory()
    try:
        migrate(con)
        return mart_columns(con)
    finally:
        con.close()


def open_lake(directory: str | os.PathLike, marts: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB whose tables are views of the lake's files, with the warehouse's session settings.

    The KPI code runs on it unchanged. With ``marts`` and marts built for this export of the lake
    (``write_marts``), ``kpi_cube``, ``kpi_histogram``, ``kpi_backlog_ages`` and ``kpi_cube_meta``
    are views of them, so ``compute`` reads them as it reads a warehouse's cube; otherwise every
    answer comes from the raw tables (``marts_status`` says why). A missing or unreadable
    manifest, or a table whose files are gone, is an IngestError naming the directory and the problem.
    """
    folder = Path(directory).absolute()
    manifest = read_manifest(folder)
    check_files(folder, manifest)
    columns = warehouse_mart_columns() if marts else None
    con = in_memory()
    try:
        create_views(con, folder, manifest, columns)
        # What a warehouse says of its schema, for code that asks (``store.schema_version``).
        con.execute(
            f"CREATE VIEW schema_version AS SELECT {int(manifest.get('schema_version') or 0)}::INTEGER AS version, "
            f"TIMESTAMPTZ {quoted(manifest['created_at'])} AS applied_at"
        )
    except (duckdb.Error, KeyError, TypeError, ValueError) as exc:
        con.close()
        raise IngestError(str(folder), f"{MANIFEST} cannot be read as a lake ({str(exc).splitlines()[0]})") from None
    except BaseException:
        con.close()
        raise
    return con


def marts_status(directory: str | os.PathLike) -> str | None:
    """Why the lake's marts do not answer (none built, built from an earlier export, unreadable); None when they do."""
    folder = Path(directory).absolute()
    manifest = read_manifest(folder)
    con = in_memory()
    try:  # the very views ``open_lake`` makes: the marts answer exactly when these read them
        return create_views(con, folder, manifest, warehouse_mart_columns())
    finally:
        con.close()


def write_marts(lake_dir: str | os.PathLike, write_table: Callable[[str, Path], int], meta: dict) -> dict:
    """Write the lake's marts through ``write_table`` and their manifest; returns the manifest.

    ``write_table(name, folder)`` writes the mart ``name`` as Parquet files into ``folder`` (which
    it creates; Spark's writer wants to) and returns its rows; ``meta`` holds ``engine`` and what
    the warehouse's ``kpi_cube_meta`` would hold (``conventions_key``, ``data_version``,
    ``built_as_of``, ``metrics``). The marts are written beside ``DIR/marts`` and swapped into
    place whole: a failed build leaves the marts there were. They record the lake's export
    (its ``created_at``), so marts of an earlier export are never read for a newer one.
    """
    folder = Path(lake_dir).absolute()
    lake = read_manifest(folder)  # no lake, no marts: one line
    target = folder / MARTS
    _remove_abandoned(target)
    failure = "cannot write the marts ({}); the marts there were are kept"
    with _written_whole(target, str(folder), failure) as staging:
        tables = {}
        for name in MART_TABLES:
            rows = write_table(name, staging / name)
            if not any((staging / name).glob("*.parquet")):
                raise IngestError(str(folder), f"the engine wrote no Parquet file for {name}; the marts are kept")
            tables[name] = {"rows": int(rows)}
        manifest = {
            "format": MARTS_FORMAT,
            "version": MARTS_VERSION,
            "engine": meta["engine"],
            "built_at": datetime.now(UTC).isoformat(),
            "lake_created_at": lake["created_at"],
            "conventions_key": meta["conventions_key"],
            "data_version": meta["data_version"],
            "built_as_of": meta["built_as_of"],
            "metrics": list(meta["metrics"]),
            "tables": tables,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def sidecar_path(lake_dir: str | os.PathLike) -> Path:
    """Where the app's and the radar's own state for a lake lives by default: ``NAME.radar.duckdb`` beside ``DIR``."""
    folder = Path(lake_dir).absolute()
    return folder.with_name(f"{folder.name}.radar.duckdb")


def open_sidecar(lake_dir: str | os.PathLike, db: str | os.PathLike | None = None) -> duckdb.DuckDBPyConnection:
    """The lake's sidecar (``db``, default ``sidecar_path``), created and linked to the lake on first use.

    Every later ``store.connect`` of that file (the app's sessions included) sees the lake's
    tables and marts as views (``lake_files.attach_linked``) and its own tables for what the app
    and the radar write. A file holding a warehouse's own data, or the state of another lake,
    is refused in one line.
    """
    folder = Path(lake_dir).absolute()
    read_manifest(folder)  # a lake, before any file is created for it
    path = Path(db).absolute() if db else sidecar_path(folder)
    con = connect(path, on_wait=print_waiting)
    try:
        linked = linked_lake(con)
        if linked is None:
            if con.sql("SELECT count(*) FROM batches").fetchall()[0][0]:
                raise IngestError(str(path), "holds a warehouse's own data; name a new file for the lake's state")
            con.execute(f"CREATE TABLE {LINK_TABLE} (directory VARCHAR NOT NULL, linked_at TIMESTAMPTZ NOT NULL)")
            con.execute(f"INSERT INTO {LINK_TABLE} VALUES (?, now())", [str(folder)])
            attach_linked(con, migrations()[-1][0])
        elif linked != folder:
            raise IngestError(str(path), f"keeps the state of the lake {linked}; name another file for {folder}")
    except BaseException:
        con.close()
        raise
    return con
