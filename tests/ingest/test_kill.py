"""A load killed at any moment leaves the warehouse exactly as before that file, and it opens again.

The warehouse already holds tickets (two loads, with rejected rows, row history and audit entries),
and the file killed mid-write both adds tickets and changes known ones, so the update path runs.
The kill lands while DuckDB is writing the file's rows: after the load began (its command published
the copy readers use) and once the warehouse file has grown past that copy. Whether it landed before
the commit is read from the warehouse afterwards; a kill that came too late is retried sooner, and
the test fails if none landed mid-write.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipelines.warehouse.store import connect, load_in_progress, migrations, schema_version
from tests.conftest import ROOT, run_cli

BASE = 40_000  # tickets K0.. in the warehouse before the killed file
TOUCHED = 500  # K0.. changed by a second load, so the row history is not empty before
CHANGED = 20_000  # K0.. changed again by the killed file (their old versions go to the history)
SAME = 500  # known tickets the killed file repeats unchanged (duplicates)
NEW = 110_000  # N0..: new tickets; with the changed ones more than a DuckDB row group is written
BAD = 5  # rows with an unreadable date: rejected
# Seconds from "DuckDB is writing" to the kill: later first, sooner when the load had committed by then.
DELAYS = (0.15, 0.05, 0.0)
BATCH = 3  # the killed file's batch: the next after the warehouse's two


def tickets(ids: list[str], status: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticket id": ids,
            "created at": [f"2025-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}" for i in range(len(ids))],
            "channel": [("email", "chat", "phone")[i % 3] for i in range(len(ids))],
            "status": [status] * len(ids),
        }
    )


def bad_rows(prefix: str) -> pl.DataFrame:
    frame = tickets([f"{prefix}{i}" for i in range(BAD)], "open")
    return frame.with_columns(pl.lit("not a date").alias("created at"))


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("exports")
    base = tickets([f"K{i}" for i in range(BASE)], "open")
    files = {
        "base": pl.concat([base, bad_rows("BASEBAD")]),
        "touch": tickets([f"K{i}" for i in range(TOUCHED)], "pending"),
        "update": pl.concat(
            [
                tickets([f"K{i}" for i in range(CHANGED)], "solved"),
                base.slice(CHANGED, SAME),  # exactly as the warehouse has them
                tickets([f"N{i}" for i in range(NEW)], "open"),
                bad_rows("BAD"),
            ]
        ),
    }
    paths = {}
    for name, frame in files.items():
        paths[name] = folder / f"{name}.csv"
        frame.write_csv(paths[name])
    return paths


def ingest_args(path: Path, db: Path) -> list[str]:
    return ["ingest", str(path), "--kind", "tickets", "--tz", "UTC", "--db", str(db), "--json"]


@pytest.fixture(scope="module")
def before(tmp_path_factory, exports) -> Path:
    """The warehouse before the killed file, loaded from the command line; copied for each attempt."""
    db = tmp_path_factory.mktemp("before") / "before.duckdb"
    for name in ("base", "touch"):
        done = run_cli(*ingest_args(exports[name], db))
        assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(db), read_only=True)
    tables = ("tickets", "tickets_history", "rejected_rows", "audit_log")
    counts = {t: con.sql(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in tables}
    assert con.sql("SELECT max(batch_id) FROM batches").fetchall() == [(BATCH - 1,)]
    con.close()
    assert counts == {"tickets": BASE, "tickets_history": TOUCHED, "rejected_rows": BAD, "audit_log": 2}
    return db


def compared(expected: Path, actual: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with both warehouses attached read-only, as ``expected`` and ``actual``."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{expected}' AS expected (READ_ONLY)")
    con.execute(f"ATTACH '{actual}' AS actual (READ_ONLY)")
    return con


def mismatch(con: duckdb.DuckDBPyConnection, left: str, right: str) -> tuple[int, int]:
    """Rows of ``left`` not in ``right`` and rows of ``right`` not in ``left``, counting repeats."""
    gone = con.sql(f"SELECT count(*) FROM (({left}) EXCEPT ALL ({right}))").fetchall()[0][0]
    added = con.sql(f"SELECT count(*) FROM (({right}) EXCEPT ALL ({left}))").fetchall()[0][0]
    return gone, added


def differences(expected: Path, actual: Path) -> list[str]:
    """Every way the warehouse ``actual`` differs from ``expected``: tables, columns, any row, sequences."""
    con = compared(expected, actual)
    try:
        shapes = {}
        for database in ("expected", "actual"):
            rows = con.sql(
                """SELECT table_name, list(column_name || ' ' || data_type ORDER BY ordinal_position)
                   FROM information_schema.columns WHERE table_catalog = ? GROUP BY table_name""",
                params=[database],
            ).fetchall()
            shapes[database] = dict(rows)
        found = []
        if shapes["expected"] != shapes["actual"]:
            found.append(f"tables or columns differ: {shapes['expected']} != {shapes['actual']}")
        for table in sorted(shapes["expected"].keys() & shapes["actual"].keys()):
            gone, added = mismatch(con, f"SELECT * FROM expected.{table}", f"SELECT * FROM actual.{table}")
            if gone or added:
                found.append(f"{table}: {gone} rows gone, {added} rows added")
        sequences = "SELECT sequence_name, last_value FROM duckdb_sequences() WHERE database_name = ? ORDER BY 1"
        expected_sequences = con.sql(sequences, params=["expected"]).fetchall()
        actual_sequences = con.sql(sequences, params=["actual"]).fetchall()
        if expected_sequences != actual_sequences:
            found.append(f"sequences differ: {expected_sequences} != {actual_sequences}")
        return found
    finally:
        con.close()


def committed(db: Path) -> bool:
    """Whether the killed file's load had committed whole (the kill came too late to test anything)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        landed = con.sql("SELECT rows_loaded, rows_updated FROM batches WHERE batch_id = ?", params=[BATCH]).fetchall()
        count = con.sql("SELECT count(*) FROM tickets").fetchall()[0][0]
    finally:
        con.close()
    return landed == [(NEW, CHANGED)] and count == BASE + NEW


def kill_while_writing(update: Path, victim: Path, env: dict, delay: float, folder: Path) -> dict:
    """Load ``update`` into ``victim`` from the command line and SIGKILL it ``delay`` s after DuckDB starts writing.

    The command publishes the copy readers use (``NAME.reading``, a byte copy taken after a
    checkpoint) right before the load begins; the warehouse file growing past that copy is DuckDB
    writing this file's rows into it. Returns what was seen.
    """
    tmp = folder / "tmp"  # the load's own temporary files, left by the kill
    tmp.mkdir()
    log = folder / "stderr.txt"
    with log.open("wb") as stderr:
        load = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *ingest_args(update, victim)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, **env, "TMPDIR": str(tmp)},
        )
    copy = victim.with_name(victim.name + ".reading")
    seen: dict = {"writing": False}
    began = None  # the warehouse file's size when the load began
    deadline = time.monotonic() + 120
    try:
        while began is None and load.poll() is None and time.monotonic() < deadline:
            try:
                began = copy.stat().st_size
            except FileNotFoundError:
                time.sleep(0.002)
        while began is not None and load.poll() is None and time.monotonic() < deadline:
            if victim.stat().st_size > began:
                seen["writing"] = True
                time.sleep(delay)
                break
            time.sleep(0.001)
        seen["grown_at_kill"] = None if began is None else victim.stat().st_size - began
        load.send_signal(signal.SIGKILL)
    finally:
        seen["returncode"] = load.wait(timeout=60)
    seen["stderr"] = log.read_text(encoding="utf-8", errors="replace")
    return seen


@pytest.mark.parametrize("reading", ["whole", "streamed"])
def test_a_load_killed_mid_write_leaves_the_warehouse_as_before_and_loads_again(exports, before, tmp_path, reading):
    # Streamed: the file is read in parts as a large one would be, its changed rows set aside in Parquet.
    env = {"CSAT_RADAR_STREAM_MB": "0"} if reading == "streamed" else {}
    attempts = []
    for number, delay in enumerate(DELAYS):
        folder = tmp_path / f"attempt-{number}"
        folder.mkdir()
        victim = folder / "warehouse.duckdb"
        shutil.copyfile(before, victim)
        seen = kill_while_writing(exports["update"], victim, env, delay, folder)
        attempts.append((delay, {k: v for k, v in seen.items() if k != "stderr"}))
        assert seen["returncode"] in (-signal.SIGKILL, 0), seen["stderr"]
        if seen["returncode"] == -signal.SIGKILL and seen["writing"] and not committed(victim):
            break  # killed while DuckDB was writing, before the commit
        # Too late: the load had committed (or never wrote before it ended). Never anything in between.
        assert committed(victim), (attempts, differences(before, victim))
    else:
        pytest.fail(f"no kill landed while the load was writing: {attempts}")

    # Exactly as before the file: every table, every row, every sequence.
    assert differences(before, victim) == [], attempts
    # The next open works without repair: the killed load's copy for readers names a dead process.
    assert load_in_progress(victim) is None
    con = connect(victim, wait=0)
    assert schema_version(con) == migrations()[-1][0]
    con.close()
    assert differences(before, victim) == []

    # The same file loads again, whole, with the batch number the killed load had taken.
    again = run_cli(*ingest_args(exports["update"], victim), env=env)
    assert again.returncode == 0 and "Traceback" not in again.stderr, again.stderr
    result = json.loads(again.stdout.strip().splitlines()[-1])
    outcome = {k: result[k] for k in ("rows_read", "rows_loaded", "rows_updated", "rows_duplicate", "rows_rejected")}
    assert outcome == {
        "rows_read": CHANGED + SAME + NEW + BAD,
        "rows_loaded": NEW,
        "rows_updated": CHANGED,
        "rows_duplicate": SAME,
        "rows_rejected": BAD,
    }
    assert result["batch_id"] == BATCH
    con = compared(before, victim)
    try:
        con.execute(f"CREATE TEMP TABLE changed AS SELECT 'K' || range AS ticket_id FROM range({CHANGED})")
        # Tickets the file did not change are as they were, batch and all.
        assert mismatch(
            con,
            "SELECT * FROM expected.tickets WHERE ticket_id NOT IN (SELECT ticket_id FROM changed)",
            f"SELECT * FROM actual.tickets WHERE batch_id <> {BATCH}",
        ) == (0, 0)
        assert con.sql(
            f"""SELECT count(*), count(*) FILTER (WHERE ticket_id LIKE 'N%'),
                       count(*) FILTER (WHERE ticket_id IN (SELECT ticket_id FROM changed) AND status = 'resolved')
                FROM actual.tickets WHERE batch_id = {BATCH}"""
        ).fetchall() == [(NEW + CHANGED, NEW, CHANGED)]
        # The versions it replaced went to the history, beside the ones there before.
        assert mismatch(
            con,
            f"""SELECT * FROM expected.tickets_history UNION ALL
                SELECT *, {BATCH} FROM expected.tickets WHERE ticket_id IN (SELECT ticket_id FROM changed)""",
            "SELECT * FROM actual.tickets_history",
        ) == (0, 0)
        assert mismatch(
            con,
            f"""SELECT * FROM expected.rejected_rows UNION ALL
                SELECT * FROM actual.rejected_rows WHERE batch_id = {BATCH} AND reason LIKE 'unparseable date%'""",
            "SELECT * FROM actual.rejected_rows",
        ) == (0, 0)
        assert con.sql(f"SELECT count(*) FROM actual.rejected_rows WHERE batch_id = {BATCH}").fetchall() == [(BAD,)]
        assert mismatch(
            con, "SELECT * FROM expected.batches", f"SELECT * FROM actual.batches WHERE batch_id <> {BATCH}"
        ) == (0, 0)
        assert con.sql(
            f"""SELECT status, rows_read, rows_loaded, rows_updated, rows_duplicate, rows_rejected
                FROM actual.batches WHERE batch_id = {BATCH}"""
        ).fetchall() == [("loaded", *outcome.values())]
        assert mismatch(con, "SELECT * FROM expected.audit_log", "SELECT * FROM actual.audit_log") == (0, 1)
        assert con.sql(
            "SELECT action, outcome, target FROM actual.audit_log ORDER BY audit_id DESC LIMIT 1"
        ).fetchall() == [("upload", "done", str(exports["update"]))]
    finally:
        con.close()
