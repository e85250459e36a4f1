"""Faults and concurrent use: a busy warehouse is waited for and said so, a foreign file is refused, a migration
keeps a backup, and two loads into one warehouse land one after the other with every row."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import duckdb
import pytest

from pipelines.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.warehouse import connect, exclusive_write, migrations, schema_version
from tests.conftest import ROOT, run_cli, write

TICKETS = "ticket id,created at,channel\n" + "".join(f"T{i},2026-03-02 09:00,email\n" for i in range(200))
MORE = "ticket id,created at,channel\n" + "".join(f"U{i},2026-03-03 09:00,chat\n" for i in range(300))


def hold(db_path, seconds: float, as_a_load: bool = False) -> subprocess.Popen:
    """Another process with the warehouse open for writing, for ``seconds``; returns once it has it.

    ``as_a_load``: as a command-line load does, it also publishes the copy readers use, and
    writes to the warehouse after taking it.
    """
    script = "import sys, time; from pipelines.warehouse import connect, publish_snapshot, drop_snapshot; "
    script += "con = connect(sys.argv[1]); "
    if as_a_load:
        script += "publish_snapshot(con); con.execute('CREATE TABLE written_during_the_load AS SELECT 1 AS n'); "
    script += "print('holding', flush=True); time.sleep(float(sys.argv[2])); "
    script += ("drop_snapshot(con); " if as_a_load else "") + "con.close()"
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(db_path), str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    return holder


def test_an_open_waits_while_another_process_loads_and_says_so_once(db_path):
    connect(db_path).close()
    holder = hold(db_path, 1.5)
    heard = []
    started = time.monotonic()
    con = connect(db_path, on_wait=heard.append)
    assert time.monotonic() - started >= 0.5  # it did wait for the other process
    assert len(heard) == 1 and f"in use by process {holder.pid}" in heard[0] and str(db_path) in heard[0]
    assert schema_version(con) == migrations()[-1][0]
    con.close()
    holder.wait()


def test_an_open_gives_up_with_one_line_when_the_other_process_does_not_finish(db_path, monkeypatch):
    connect(db_path).close()
    monkeypatch.setenv("CSAT_RADAR_LOCK_WAIT_SECONDS", "0.5")
    holder = hold(db_path, 5)
    try:
        with pytest.raises(IngestError, match="still in use by another process after"):
            connect(db_path)
    finally:
        holder.kill()
        holder.wait()


def test_the_command_line_waits_for_a_load_and_then_loads(db_path, tmp_path):
    connect(db_path).close()
    export = write(tmp_path / "tickets.csv", TICKETS)
    holder = hold(db_path, 2)
    result = run_cli("ingest", str(export), "--kind", "tickets", "--db", str(db_path), "--tz", "UTC")
    holder.wait()
    assert result.returncode == 0, result.stderr
    assert "waiting for it to finish" in result.stderr and "Traceback" not in result.stderr
    con = connect(db_path, read_only=True)
    assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(200,)]
    con.close()


@pytest.mark.parametrize("content", [b"\x00\x01garbage" * 500, b"ticket id,created at\nT1,2026-01-01\n"])
def test_a_file_that_is_not_a_warehouse_is_refused_and_left_untouched(tmp_path, content):
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(content)
    with pytest.raises(IngestError, match="not a warehouse this CSAT Radar can open"):
        connect(path)
    assert path.read_bytes() == content
    result = run_cli("status", "--db", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and str(path) in result.stderr


def test_a_backup_of_the_warehouse_as_it_was_is_taken_before_a_migration(db_path):
    old = duckdb.connect(str(db_path))
    old.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
    for version, path in migrations()[:-1]:
        old.execute(path.read_text(encoding="utf-8"))
        old.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    old.execute(
        "INSERT INTO tickets (ticket_id, created_at, row_hash, batch_id) "
        "VALUES ('OLD-1', TIMESTAMPTZ '2026-03-02 09:00+00', hash('OLD-1'), 1)"
    )
    old.close()
    before = migrations()[-2][0]
    migrated = connect(db_path)
    # Copying the file must not cost this process DuckDB's lock on it (a POSIX lock, lost when
    # the process closes any descriptor of the file): another process still cannot open it.
    probe = "import duckdb, sys; duckdb.connect(sys.argv[1])"
    other = subprocess.run([sys.executable, "-c", probe, str(db_path)], capture_output=True, text=True)
    assert other.returncode != 0 and "lock" in other.stderr.lower()
    migrated.close()
    backups = sorted(db_path.parent.glob(f"{db_path.name}.v{before}-*.bak"))
    assert len(backups) == 1
    kept = duckdb.connect(str(backups[0]), read_only=True)
    assert kept.sql("SELECT max(version) FROM schema_version").fetchall() == [(before,)]
    assert kept.sql("SELECT ticket_id FROM tickets").fetchall() == [("OLD-1",)]
    kept.close()
    connect(db_path).close()  # up to date: no second backup
    assert len(list(db_path.parent.glob(f"{db_path.name}.v*.bak"))) == 1


def test_two_loads_in_one_process_land_one_after_the_other_while_readers_go_on(db_path, tmp_path):
    """Two sessions of the app: the second upload waits for the first, is told so, and both land whole."""
    first, second = connect(db_path), connect(db_path)
    reader = connect(db_path)
    ingest_file(first, write(tmp_path / "a.csv", TICKETS), "tickets", source_tz="UTC")
    heard, outcome = [], {}

    def upload() -> None:
        outcome["result"] = ingest_file(
            second, write(tmp_path / "b.csv", MORE), "tickets", source_tz="UTC", on_wait=heard.append
        )

    with exclusive_write(first):  # the first session's load is still running
        waiting = threading.Thread(target=upload)
        waiting.start()
        deadline = time.monotonic() + 10
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
        assert heard and "another load or undo is running" in heard[0]
        assert "result" not in outcome  # it waits
        assert reader.sql("SELECT count(*) FROM tickets").fetchall() == [(200,)]  # reading goes on meanwhile
    waiting.join(timeout=60)
    assert outcome["result"].rows_loaded == 300
    assert reader.sql("SELECT count(*), count(DISTINCT batch_id) FROM tickets").fetchall() == [(500, 2)]
    for con in (first, second, reader):
        con.close()


def test_readers_in_another_process_read_the_copy_while_a_command_line_load_runs(db_path, tmp_path):
    from pipelines.warehouse import connect_for_reading, load_in_progress

    con = connect(db_path)
    ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="UTC")
    con.close()
    holder = hold(db_path, 30, as_a_load=True)
    try:
        assert load_in_progress(db_path) is not None
        reader = connect_for_reading(db_path, on_wait=lambda message: pytest.fail("a reader waited: " + message))
        assert reader.sql("SELECT count(*) FROM tickets").fetchall() == [(200,)]
        assert not reader.sql("SELECT * FROM duckdb_tables() WHERE table_name = 'written_during_the_load'").fetchall()
        reader.close()
        assert holder.poll() is None, "the load was still running while the copy was read"
    finally:
        holder.kill()
        holder.wait()
    # Killed mid-load: its copy is left behind, but names a process that is gone, so it is not used.
    assert (db_path.parent / (db_path.name + ".reading")).exists()
    assert load_in_progress(db_path) is None
    con = connect_for_reading(db_path)
    assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(200,)]
    con.close()


def test_a_command_line_load_publishes_the_copy_and_removes_it_when_done(db_path, tmp_path):
    from pipelines.warehouse import connect_for_reading, load_in_progress

    con = connect(db_path)
    ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="UTC")
    con.close()
    big = tmp_path / "big.csv"
    big.write_text("ticket id,created at,channel\n" + "".join(f"B{i},2026-03-04 09:00,web\n" for i in range(400_000)))
    load = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ingest", str(big), "--kind", "tickets", "--tz", "UTC",
         "--db", str(db_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = None
    while load.poll() is None and seen is None:
        if load_in_progress(db_path) is not None:
            reader = connect_for_reading(db_path)
            seen = reader.sql("SELECT count(*) FROM tickets").fetchall()[0][0]
            reader.close()
        time.sleep(0.02)
    _, err = load.communicate(timeout=300)
    assert load.returncode == 0, err
    assert seen == 200, "while it loaded, another process read the warehouse as it was"
    assert load_in_progress(db_path) is None
    assert not (db_path.parent / (db_path.name + ".reading")).exists()
    con = connect_for_reading(db_path)
    assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(400_200,)]
    con.close()
