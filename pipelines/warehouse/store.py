"""The DuckDB warehouse: where it lives, and its schema, migrated forward on every open."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipelines.common.diskspace import free_bytes, full_folder, is_disk_full, megabytes
from pipelines.common.errors import IngestError
from pipelines.common.limits import SettingError
from pipelines.warehouse import machine
from pipelines.warehouse.hashes import rehash
from pipelines.warehouse.lake_files import attach_linked, refuse_lake
from pipelines.warehouse.schema import TABLES, event_columns

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "CSAT_RADAR_DB"
MIGRATIONS = Path(__file__).parent / "migrations"
# How long an open waits for another process (a load from the command line or the app) to
# release the warehouse before it gives up with a message.
LOCK_WAIT_ENV = "CSAT_RADAR_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 600.0


SESSION_TIME_ZONE = "UTC"


def _session(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Settings every session gets, whatever the host.

    DuckDB draws a progress bar on standard output once a query runs past two seconds, which
    landed inside `csat-radar crises --json` piped to a file on a busy machine: off. Its session
    time zone otherwise follows the host's, so a TIMESTAMPTZ literal or a cast to a date would
    read differently on another machine: UTC, always (report zones are applied explicitly).
    Its memory and threads come from the machine (``pipelines.warehouse.machine``): left at
    80% of the memory, DuckDB held what a load's parts needed beside it.
    """
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET TimeZone = '{SESSION_TIME_ZONE}'")
    try:
        memory, threads = machine.duckdb_memory_bytes(), machine.duckdb_threads()
    except SettingError as exc:
        con.close()
        raise IngestError("warehouse", str(exc)) from None
    con.execute(f"SET memory_limit = '{memory // machine.MB}MiB'")  # DuckDB's MB is 10**6 bytes
    con.execute(f"SET threads = {threads}")
    return con


def in_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the settings of every warehouse session (UTC, no progress bar, the machine's share).

    For reading what is not a warehouse file the same way as one: a lake's Parquet files.
    """
    return _session(duckdb.connect())


def resolve_db_path(explicit: str | os.PathLike | None = None) -> Path:
    """--db wins, then the CSAT_RADAR_DB environment variable, then data/warehouse.duckdb."""
    if explicit:
        return Path(explicit)
    if os.environ.get(DB_ENV):
        return Path(os.environ[DB_ENV])
    return DEFAULT_DB


def migrations() -> list[tuple[int, Path]]:
    """Numbered SQL files in pipelines/warehouse/migrations, in order."""
    found = sorted((int(path.name.split("_", 1)[0]), path) for path in MIGRATIONS.glob("*.sql"))
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        # Two files of one number (branches merged) would apply one and skip the other on every warehouse.
        raise RuntimeError(f"migrations must be numbered 1..{len(found)} once each, found {numbers}")
    return found


def schema_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'").fetchall()[
        0
    ][0]
    if not exists:
        return 0
    return con.sql("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0]


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Everything inside commits together, or rolls back together on any error or interrupt."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        rollback(con)
        raise


def rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Undo the open transaction; a COMMIT that failed (a full disk) has already ended it.

    Raising "no transaction is active" there would hide the error that says what went wrong.
    """
    try:
        con.execute("ROLLBACK")
    except duckdb.TransactionException as exc:
        if "no transaction is active" not in str(exc):
            raise


def database_file(con: duckdb.DuckDBPyConnection) -> Path | None:
    """The file a connection's warehouse lives in (None in memory)."""
    found = con.sql("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return Path(found[0][0]) if found and found[0][0] else None


def warehouse_name(con: duckdb.DuckDBPyConnection) -> str:
    """The warehouse's file name, for messages ("the warehouse" in memory)."""
    path = database_file(con)
    return path.name if path is not None else "the warehouse"


def _copy_held_file(source: Path, target: Path) -> None:
    """Copy a file this process holds DuckDB's lock on, in a child process.

    The lock is a POSIX record lock, which a process loses when it closes any descriptor of the
    file: copying it here would let another process open the warehouse mid-write.
    """
    subprocess.run(["cp", "-p", str(source), str(target)], check=True, capture_output=True)


def backup_before_migration(con: duckdb.DuckDBPyConnection, version: int) -> Path | None:
    """Copy the warehouse file aside, as it is at ``version``, before a migration changes it."""
    path = database_file(con)
    if path is None or not path.exists():
        return None
    con.execute("CHECKPOINT")  # everything in the file itself, so the copy is the whole warehouse
    backup = path.with_name(f"{path.name}.v{version}-{datetime.now(UTC):%Y%m%dT%H%M%S}.bak")
    _copy_held_file(path, backup)
    return backup


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every migration newer than the file's version, each in its own transaction.

    A warehouse that already holds a schema is copied aside first (``NAME.vN-TIME.bak``).
    """
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    current = schema_version(con)
    latest = migrations()[-1][0]
    if current > latest:
        raise IngestError("warehouse", f"schema version {current} is newer than this CSAT Radar understands ({latest})")
    if 0 < current < latest:
        backup_before_migration(con, current)
    for version, path in migrations():
        if version <= current:
            continue
        with transaction(con):
            con.execute(path.read_text(encoding="utf-8"))
            con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    return latest


_WRITERS: dict[str, threading.Lock] = {}
_WRITERS_GUARD = threading.Lock()


@contextmanager
def exclusive_write(con: duckdb.DuckDBPyConnection, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """One load or undo at a time per warehouse in this process; a second one waits, told so by ``on_wait``.

    Sessions of the app share one process and one DuckDB instance, where readers go on while a
    load runs but two writers could conflict; other processes already wait at the open.
    """
    refuse_lake(con)  # a lake's data is its files: a load goes to the warehouse it was exported from
    key = str(database_file(con) or id(con))
    with _WRITERS_GUARD:
        lock = _WRITERS.setdefault(key, threading.Lock())
    if not lock.acquire(blocking=False):
        if on_wait is not None:
            on_wait(f"{key}: another load or undo is running; this one starts when it is done")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _waiting_message(path: Path, error: duckdb.Error) -> str:
    holder = re.search(r"PID (\d+)", str(error))
    who = f"process {holder.group(1)}" if holder else "another process"
    return f"{path}: in use by {who} (a load?); waiting for it to finish"


def print_waiting(message: str) -> None:
    """The command line's way to say it waits: one line on standard error."""
    print(message, file=sys.stderr, flush=True)


def _open(
    path: Path, read_only: bool, on_wait: Callable[[str], None] | None, wait: float | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting while another process holds it; IngestError when it cannot be opened."""
    wait = float(os.environ.get(LOCK_WAIT_ENV, DEFAULT_LOCK_WAIT_SECONDS)) if wait is None else wait
    deadline, pause, announced = time.monotonic() + wait, 0.05, False
    while True:
        try:
            return _session(duckdb.connect(str(path), read_only=read_only))
        except duckdb.IOException as exc:
            if "not a valid duckdb database" in str(exc).lower():
                raise IngestError(str(path), "not a warehouse this CSAT Radar can open (not a DuckDB file)") from exc
            if "lock" not in str(exc).lower():
                raise IngestError(str(path), f"cannot open the warehouse: {str(exc).splitlines()[0]}") from exc
            if time.monotonic() >= deadline:
                raise IngestError(
                    str(path), f"still in use by another process after {wait:.0f} s; try again when its load is done"
                ) from exc
            if on_wait is not None and not announced:
                on_wait(_waiting_message(path, exc))
                announced = True
            time.sleep(pause)
            pause = min(pause * 2, 1.0)
        except duckdb.Error as exc:
            problem = str(exc).splitlines()[0]
            # Another thread of this process is closing the last connection to the file as this one
            # opens it (the app's sessions open and close theirs concurrently): a moment later the
            # file is free to attach again, so wait as for a lock instead of failing the page.
            if "unique file handle conflict" in problem.lower() and time.monotonic() < deadline:
                time.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            raise IngestError(str(path), f"not a warehouse this CSAT Radar can open ({problem})") from exc


# While a command-line load or undo holds the file, other processes read a copy of the
# warehouse as it was when that command began (DuckDB lets one process have a file open for
# writing and none else, not even to read). The copy names its writer, so a copy left by a
# killed command is never mistaken for a running one.
SNAPSHOT_SUFFIX = ".reading"


def _snapshot(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + SNAPSHOT_SUFFIX), path.with_name(path.name + SNAPSHOT_SUFFIX + ".pid")


def publish_snapshot(
    con: duckdb.DuckDBPyConnection, keep_free: int = 0, on_skip: Callable[[str], None] | None = None
) -> Path | None:
    """Copy the warehouse aside for other processes to read while this one writes; None in memory or skipped.

    The copy is a convenience for readers and the write is what the user asked for, so the copy
    is made only when it leaves ``keep_free`` bytes (about what the write needs) on the disk;
    otherwise, or when the disk fills while copying, there is no copy (readers wait for the
    write instead) and ``on_skip`` hears why in one line.
    """
    path = database_file(con)
    if path is None or not path.exists():
        return None
    snapshot, owner = _snapshot(path)
    partial = snapshot.with_name(snapshot.name + ".partial")
    for stale in (snapshot, owner, partial):  # this process holds the warehouse: any copy is from a killed one
        stale.unlink(missing_ok=True)
    con.execute("CHECKPOINT")  # everything in the file itself, so the copy is the whole warehouse
    size, free = path.stat().st_size, free_bytes(path.parent)
    try:
        if free < size + keep_free:
            raise OSError(errno.ENOSPC, "not enough room")
        _copy_held_file(path, partial)
        owner.write_text(str(os.getpid()), encoding="utf-8")
        os.replace(partial, snapshot)
    except (OSError, subprocess.CalledProcessError) as exc:
        for leftover in (partial, owner, snapshot):
            leftover.unlink(missing_ok=True)
        if not is_disk_full(exc):
            detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip() or str(exc)
            raise IngestError(
                str(snapshot), f"cannot copy the warehouse for readers: {detail.splitlines()[0]}"
            ) from exc
        if on_skip is not None:
            kept = f" and {megabytes(keep_free)} kept for the load" if keep_free else ""
            on_skip(
                f"{path.parent}: no room for the reading copy of {path.name} (needs {megabytes(size)}{kept}, "
                f"{megabytes(free)} free); going on without it, so the dashboard waits until this is done"
            )
        return None
    return snapshot


@contextmanager
def disk_full_in_one_line(con: duckdb.DuckDBPyConnection, doing: str, undone: str) -> Iterator[None]:
    """A full disk while ``doing`` a write becomes one IngestError naming the disk and the room it had.

    The reading copy is given up first: its room lets the audit row of the failure in, and the
    next command (and reader) starts from the warehouse itself.
    """
    path = database_file(con)
    folder = path.parent if path is not None else Path.cwd()
    free_before = free_bytes(folder)
    try:
        yield
    except (duckdb.Error, OSError) as exc:
        if not is_disk_full(exc):
            raise
        drop_snapshot(con)
        disk = full_folder(exc, folder)
        before = f"needed more than the {megabytes(free_before)} free when it began, " if disk == folder else ""
        raise IngestError(
            str(disk),
            f"no space left {doing} ({before}{megabytes(free_bytes(disk))} free now); {undone}; "
            "free space and run again",
        ) from exc


def drop_snapshot(con: duckdb.DuckDBPyConnection) -> None:
    """Remove this process's copy: readers go back to the warehouse itself."""
    path = database_file(con)
    if path is not None:
        snapshot, owner = _snapshot(path)
        for leftover in (snapshot, owner, snapshot.with_name(snapshot.name + ".partial")):
            leftover.unlink(missing_ok=True)


def close_after_writing(con: duckdb.DuckDBPyConnection) -> None:
    """Close a command's connection and leave only the warehouse: no reading copy, no empty WAL.

    A COMMIT refused by a full disk leaves an empty ``NAME.wal`` that DuckDB keeps until the
    next open for writing; one brief open here, under DuckDB's own lock, clears it (when another
    process holds the lock, that process clears it).
    """
    path = database_file(con)
    drop_snapshot(con)
    con.close()
    wal = path.with_name(path.name + ".wal") if path is not None else None
    if wal is not None and wal.exists() and wal.stat().st_size == 0:
        with suppress(duckdb.Error):  # in use again: its next writer clears the WAL
            duckdb.connect(str(path)).close()


def load_in_progress(db_path: str | os.PathLike | None = None) -> datetime | None:
    """When the load another process is running began (its copy was taken), or None when none runs."""
    snapshot, owner = _snapshot(resolve_db_path(db_path))
    try:
        pid = int(owner.read_text(encoding="utf-8").strip())
        os.kill(pid, 0)  # raises when that process is gone
        return datetime.fromtimestamp(snapshot.stat().st_mtime, UTC)
    except (OSError, ValueError):
        return None


def connect_for_reading(db_path: str | os.PathLike | None = None, on_wait: Callable[[str], None] | None = None):
    """A connection to read from: the warehouse, or while another process loads into it, its copy."""
    path = resolve_db_path(db_path)
    if path.exists() and load_in_progress(path) is not None:
        try:
            return connect(path, on_wait=None, wait=0.0)
        except IngestError:
            snapshot, _ = _snapshot(path)
            try:
                return _session(duckdb.connect(str(snapshot), read_only=True))
            except duckdb.Error:
                pass  # the load ended while this looked: the warehouse is free again
    return connect(path, on_wait=on_wait)


def connect(
    db_path: str | os.PathLike | None = None,
    read_only: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait: float | None = None,
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the warehouse and bring its schema up to date.

    While another process has the file open for writing (DuckDB lets one process write), the
    open waits, up to CSAT_RADAR_LOCK_WAIT_SECONDS, telling ``on_wait`` once that it waits. A
    file that is not a DuckDB warehouse, or one from a newer CSAT Radar, is refused with IngestError.
    """
    path = resolve_db_path(db_path)
    if read_only and path.exists():
        return _with_lake(_open(path, True, on_wait, wait))
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, False, on_wait, wait)
    try:
        migrate(con)
    except BaseException:
        con.close()
        raise
    with transaction(con):
        rehash(con)
    return _with_lake(con)


def _with_lake(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A lake's sidecar file (pipelines/warehouse/lake.py) gets the lake's tables as this session's views."""
    try:
        attach_linked(con, migrations()[-1][0])
    except BaseException:
        con.close()
        raise
    return con


def table_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows in each canonical table, for the landing page and the command line."""
    counts = {}
    for table in ("tickets", "survey_responses", "complaints", "batches", "rejected_rows"):
        counts[table] = con.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return counts


def warehouse_as_of(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The moment the warehouse's data describes (UTC): the latest as-of of its loaded batches.

    A warehouse whose batches predate the as-of column falls back to its latest event; None when
    it holds no data. This, not the wall clock, is every "now" of the KPIs and the radar.
    """
    try:
        recorded = con.sql("SELECT max(as_of) FROM batches WHERE status = 'loaded'").fetchall()[0][0]
    except duckdb.BinderException:  # opened read-only before migration 011 added the column
        recorded = None
    if recorded is None:
        span = data_span(con)
        recorded = span[1] if span is not None else None
    return recorded.astimezone(UTC) if recorded is not None else None


def data_span(con: duckdb.DuckDBPyConnection) -> tuple[datetime, datetime] | None:
    """The first and the last event the warehouse holds (UTC), for saying what a window covered; None when empty."""
    parts = " UNION ALL ".join(
        f"SELECT min(least({', '.join(event_columns(table))})), max(greatest({', '.join(event_columns(table))})) "
        f"FROM {table.name}"
        for table in TABLES.values()
        if event_columns(table)
    )
    first, last = con.sql(f"SELECT min(f), max(l) FROM ({parts}) AS t(f, l)").fetchall()[0]
    return (first.astimezone(UTC), last.astimezone(UTC)) if first is not None else None
