"""Faults and concurrent use: a busy warehouse is waited for and said so, a foreign file is refused, a migration
keeps a backup, and two loads into one warehouse at once (two sessions of the app, or the app and the command
line) land one after the other with every row, the second told that it waits, while readers go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file
from pipelines.signin import access
from pipelines.warehouse.store import connect, connect_for_reading, load_in_progress, migrations, schema_version
from tests.conftest import ROOT, run_cli, write

TICKETS = "ticket id,created at,channel\n" + "".join(f"T{i},2026-03-02 09:00,email\n" for i in range(200))


HELD: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _holders_end_with_their_test():
    """A holder outlives a failed assertion otherwise, keeping the warehouse for up to 30 s."""
    yield
    while HELD:
        holder = HELD.pop()
        if holder.poll() is None:
            holder.kill()
        holder.wait()


def hold(db_path, seconds: float, as_a_load: bool = False) -> subprocess.Popen:
    """Another process with the warehouse open for writing, for ``seconds``; returns once it has it.

    ``as_a_load``: as a command-line load does, it also publishes the copy readers use, and
    writes to the warehouse after taking it.
    """
    script = "import sys, time; from pipelines.warehouse.store import connect, publish_snapshot, drop_snapshot; "
    script += "con = connect(sys.argv[1]); "
    if as_a_load:
        script += "publish_snapshot(con); con.execute('CREATE TABLE written_during_the_load AS SELECT 1 AS n'); "
    script += "print('holding', flush=True); time.sleep(float(sys.argv[2])); "
    script += ("drop_snapshot(con); " if as_a_load else "") + "con.close()"
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(db_path), str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    HELD.append(holder)
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
    # Held until the command line says it waits, however long a busy machine takes to start it.
    holder = hold(db_path, 120)
    command = [sys.executable, "-m", "cli.main", "ingest", str(export), "--kind", "tickets", "--db", str(db_path)]
    load = subprocess.Popen([*command, "--tz", "UTC"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    first = load.stderr.readline()
    holder.kill()
    holder.wait()
    _output, errors = load.communicate(timeout=300)
    assert load.returncode == 0, first + errors
    assert "waiting for it to finish" in first and "Traceback" not in first + errors
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


def tickets_csv(prefix: str, rows: int, day: str = "2026-03-05") -> bytes:
    return ("ticket id,created at,channel\n" + "".join(f"{prefix}{i},{day} 09:00,web\n" for i in range(rows))).encode()


def upload(db_path, name: str, data: bytes, heard: list[str]):
    """What the Upload page's Load button does (``write`` in pages/_frame/signin.py), ``heard`` for st.info."""
    con = connect(db_path, on_wait=heard.append)
    try:
        return access.perform(
            con, access.local_actor(), "upload", ingest_file, data, "tickets", file_name=name, source_tz="UTC",
            loaded_by="tester", on_wait=heard.append, target=name,
        )  # fmt: skip
    finally:
        con.close()


def landed_whole(db_path, before: int, loads: dict[str, int]) -> list[str]:
    """Each load's batch holds every row it reported, the warehouse every row of every load; the batches in order."""
    con = connect(db_path, read_only=True)
    try:
        assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(before + sum(loads.values()),)]
        batches = con.sql(
            """SELECT b.file_name, b.status, b.rows_loaded, b.rows_rejected, count(t.ticket_id)
               FROM batches b LEFT JOIN tickets t USING (batch_id) WHERE b.batch_id > 1
               GROUP BY b.batch_id, b.file_name, b.status, b.rows_loaded, b.rows_rejected ORDER BY b.batch_id"""
        ).fetchall()
        assert sorted(batches) == sorted((name, "loaded", rows, 0, rows) for name, rows in loads.items())
        for name, rows in loads.items():
            prefix = name[0].upper()
            assert con.sql(f"SELECT count(*) FROM tickets WHERE ticket_id LIKE '{prefix}%'").fetchall() == [(rows,)]
        audited = con.sql("SELECT target, outcome FROM audit_log WHERE action = 'upload'").fetchall()
        assert sorted((Path(target).name, done) for target, done in audited) == sorted((n, "done") for n in loads)
        return [row[0] for row in batches]
    finally:
        con.close()


def test_two_uploads_at_once_land_one_after_the_other_while_readers_go_on(db_path):
    """Two sessions of the app press Load at once: one load waits for the other, is told so, and both land whole."""
    con = connect(db_path)
    ingest_file(con, TICKETS.encode(), "tickets", file_name="t.csv", source_tz="UTC")
    con.close()
    files = {"a.csv": 120_000, "b.csv": 80_000}
    data = {name: tickets_csv(name[0].upper(), rows) for name, rows in files.items()}
    heard: dict[str, list[str]] = {name: [] for name in files}
    results, failures = {}, []
    start = threading.Barrier(len(files) + 1)

    def session(name: str) -> None:
        start.wait()
        try:
            results[name] = upload(db_path, name, data[name], heard[name])
        except BaseException as exc:
            failures.append(exc)

    reader = connect(db_path)  # a third session, reading
    threads = [threading.Thread(target=session, args=(name,)) for name in files]
    for thread in threads:
        thread.start()
    start.wait()
    during, seen = [], set()  # tickets a reader counted while the first load ran, and at any time
    while any(thread.is_alive() for thread in threads):
        first_running = any(heard.values()) and not results  # one waits, so the other is loading
        count = reader.sql("SELECT count(*) FROM tickets").fetchall()[0][0]
        seen.add(count)
        if first_running:
            during.append(count)
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    reader.close()
    assert not failures, failures
    # Exactly one waited, and heard it once; the other never waited.
    assert sorted(len(messages) for messages in heard.values()) == [0, 1], heard
    waited = next(name for name, messages in heard.items() if messages)
    assert "another load or undo is running; this one starts when it is done" in heard[waited][0]
    # Reading went on while the first load ran, and never saw a load in part.
    first = next(name for name in files if name != waited)
    assert during and set(during) <= {200, 200 + files[first]}, during
    assert seen <= {200, 200 + files[first], 200 + sum(files.values())}, seen
    assert {name: result.rows_loaded for name, result in results.items()} == files
    order = landed_whole(db_path, 200, files)
    assert order[-1] == waited  # the one that waited landed second


@pytest.mark.parametrize("first", ["command line", "upload page"])
def test_the_command_line_and_the_upload_page_load_at_once(db_path, tmp_path, first):
    """A command-line load and an upload into one warehouse: the second waits and says so, both land whole."""
    con = connect(db_path)
    ingest_file(con, TICKETS.encode(), "tickets", file_name="t.csv", source_tz="UTC")
    con.close()
    files = {"cli.csv": 200_000, "page.csv": 100_000}
    cli_file = tmp_path / "cli.csv"
    cli_file.write_bytes(tickets_csv("C", files["cli.csv"]))
    page_data = tickets_csv("P", files["page.csv"])
    heard: list[str] = []
    outcome, failures = {}, []
    command = [sys.executable, "-m", "cli.main", "ingest", str(cli_file), "--kind", "tickets", "--tz", "UTC",
               "--db", str(db_path), "--json"]  # fmt: skip
    env = {**os.environ, "CSAT_RADAR_LOCK_WAIT_SECONDS": "120"}

    def page(con=None) -> None:
        try:
            if con is None:
                outcome["result"] = upload(db_path, "page.csv", page_data, heard)
            else:  # the page's write() had opened the warehouse already
                outcome["result"] = access.perform(
                    con, access.local_actor(), "upload", ingest_file, page_data, "tickets", file_name="page.csv",
                    source_tz="UTC", loaded_by="tester", on_wait=heard.append, target="page.csv",
                )  # fmt: skip
        except BaseException as exc:
            failures.append(exc)

    if first == "upload page":
        writer = connect(db_path, on_wait=heard.append)  # the page's write() has the warehouse open
    cli = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        if first == "command line":
            while load_in_progress(db_path) is None and cli.poll() is None:
                time.sleep(0.01)
            assert cli.poll() is None, "the command line was done before the upload began"
            loading = threading.Thread(target=page)
            loading.start()
            # The dashboard reads the warehouse as it was, without waiting, while the command line loads.
            reader = connect_for_reading(db_path, on_wait=lambda message: pytest.fail("a reader waited: " + message))
            assert reader.sql("SELECT count(*) FROM tickets").fetchall() == [(200,)]
            reader.close()
            assert cli.poll() is None, "the read came after the command-line load"
            out, err = cli.communicate(timeout=300)
            loading.join(timeout=300)
            assert heard and f"in use by process {cli.pid} (a load?); waiting for it to finish" in heard[0], heard
            assert len(heard) == 1, heard
            landed = ["cli.csv", "page.csv"]
        else:
            try:
                waiting = cli.stderr.readline()  # the command line can only wait, and says so
                assert f"in use by process {os.getpid()} (a load?); waiting for it to finish" in waiting, waiting
                loading = threading.Thread(target=page, args=(writer,))
                loading.start()
                # Readers in the app go on while the upload loads (and the command line waits).
                reader = connect_for_reading(
                    db_path, on_wait=lambda message: pytest.fail("a reader waited: " + message)
                )
                assert reader.sql("SELECT count(*) FROM tickets").fetchall()[0][0] in (200, 200 + files["page.csv"])
                reader.close()
                assert loading.is_alive(), "the read came after the upload"
                loading.join(timeout=300)
                assert cli.poll() is None, "the command line did not wait for the upload"
            finally:
                writer.close()
            out, err = cli.communicate(timeout=300)
            err = waiting + err
            assert not heard, heard  # the upload never waited: it was first
            landed = ["page.csv", "cli.csv"]
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    assert not failures, failures
    assert cli.returncode == 0 and "Traceback" not in err, err
    assert err.count("waiting for it to finish") == (1 if first == "upload page" else 0), err
    assert json.loads(out.strip().splitlines()[-1])["rows_loaded"] == files["cli.csv"]
    assert outcome["result"].rows_loaded == files["page.csv"]
    assert landed_whole(db_path, 200, files) == landed


def test_readers_in_another_process_read_the_copy_while_a_command_line_load_runs(db_path, tmp_path):
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
    con = connect(db_path)
    ingest_file(con, write(tmp_path / "t.csv", TICKETS), "tickets", source_tz="UTC")
    con.close()
    big = tmp_path / "big.csv"
    big.write_text("ticket id,created at,channel\n" + "".join(f"B{i},2026-03-04 09:00,web\n" for i in range(400_000)))
    load = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "ingest", str(big), "--kind", "tickets", "--tz", "UTC",
         "--db", str(db_path)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen = None
    try:
        while load.poll() is None and seen is None:
            if load_in_progress(db_path) is not None:
                reader = connect_for_reading(db_path)
                seen = reader.sql("SELECT count(*) FROM tickets").fetchall()[0][0]
                reader.close()
            time.sleep(0.02)
        _, err = load.communicate(timeout=300)
    finally:  # a failed read must not leave the load running
        if load.poll() is None:
            load.kill()
        load.wait()
    assert load.returncode == 0, err
    assert seen == 200, "while it loaded, another process read the warehouse as it was"
    assert load_in_progress(db_path) is None
    assert not (db_path.parent / (db_path.name + ".reading")).exists()
    con = connect_for_reading(db_path)
    assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(400_200,)]
    con.close()
