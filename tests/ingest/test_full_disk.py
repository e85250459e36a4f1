"""A warehouse on a nearly full disk: a real small tmpfs, the real command line, nothing left behind."""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.conftest import run_cli

MB = 1024 * 1024


class SmallDisk:
    """A tmpfs mounted on ``folder``, which a test can grow (or shrink to what it holds) while mounted."""

    def __init__(self, folder: Path):
        self.folder = folder

    def resize(self, size: int) -> None:
        kib = -(-size // 1024)
        subprocess.run(["mount", "-o", f"remount,size={kib}k", str(self.folder)], check=True, capture_output=True)

    def used(self) -> int:
        usage = os.statvfs(self.folder)
        return (usage.f_blocks - usage.f_bfree) * usage.f_frsize

    def leave_free(self, size: int) -> None:
        """Shrink (or grow) the disk so that ``size`` bytes are free."""
        self.resize(self.used() + size)

    def files(self) -> set[str]:
        return set(os.listdir(self.folder))


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", str(folder)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield SmallDisk(folder)
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, capture_output=True)


def tickets_csv(path: Path, prefix: str, rows: int) -> Path:
    """Tickets with a random subject each, which does not compress: the warehouse grows with the file."""
    pick = random.Random(prefix)
    lines = [
        f"{prefix}{i},2026-03-05 09:00,web,{''.join(pick.choices(string.ascii_letters, k=200))}\n" for i in range(rows)
    ]
    path.write_text("ticket id,created at,channel,subject\n" + "".join(lines), encoding="utf-8")
    return path


def ingest(db: Path, path: Path) -> subprocess.CompletedProcess:
    return run_cli("ingest", str(path), "--kind", "tickets", "--tz", "UTC", "--json", "--db", str(db))


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout.strip().splitlines()[-1])
    return {k: record[k] for k in ("rows_read", "rows_loaded", "rows_updated", "rows_duplicate", "rows_rejected")}


def in_warehouse(db: Path) -> tuple[int, list, list]:
    """Tickets, batches and the audit log's uploads and undos, read from the file as the next command would."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tickets = con.sql("SELECT count(*) FROM tickets").fetchall()[0][0]
        batches = con.sql("SELECT batch_id, status FROM batches ORDER BY batch_id").fetchall()
        audited = con.sql("SELECT action, outcome, target, detail::VARCHAR FROM audit_log ORDER BY audit_id").fetchall()
        return tickets, batches, audited
    finally:
        con.close()


def test_no_room_for_the_reading_copy_loads_without_it_and_says_so(small_disk, tmp_path):
    db = small_disk.folder / "warehouse.duckdb"
    assert loaded(ingest(db, tickets_csv(tmp_path / "a.csv", "A", 20_000)))["rows_loaded"] == 20_000
    size = db.stat().st_size
    small_disk.leave_free(size // 2)  # room for a small load, not for a copy of the warehouse

    result = ingest(db, tickets_csv(tmp_path / "b.csv", "B", 500))

    assert loaded(result) == dict(rows_read=500, rows_loaded=500, rows_updated=0, rows_duplicate=0, rows_rejected=0)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{small_disk.folder}: no room for the reading copy of warehouse.duckdb (needs ")
    assert f"needs {size / 1_000_000:.1f} MB" in line and " MB free); going on without it" in line
    assert small_disk.files() == {"warehouse.duckdb"}, "no copy, no partial copy, no WAL left behind"
    tickets, batches, audited = in_warehouse(db)
    assert (tickets, batches) == (20_500, [(1, "loaded"), (2, "loaded")])
    assert [(a, o, Path(t).name) for a, o, t, _ in audited] == [
        ("upload", "done", "a.csv"),
        ("upload", "done", "b.csv"),
    ]

    small_disk.resize(size * 4)  # with room again, the copy is made again (and removed when done): no warning
    for leftover, content in ((".reading.partial", b"\0" * MB), (".reading.pid", b"999999999")):
        (small_disk.folder / f"warehouse.duckdb{leftover}").write_bytes(content)  # as a killed command left them
    again = ingest(db, tickets_csv(tmp_path / "c.csv", "C", 500))
    assert loaded(again)["rows_loaded"] == 500 and again.stderr == ""
    assert small_disk.files() == {"warehouse.duckdb"}


def test_a_load_that_fills_the_disk_is_one_line_leaves_nothing_and_is_audited(small_disk, tmp_path):
    db = small_disk.folder / "warehouse.duckdb"
    assert loaded(ingest(db, tickets_csv(tmp_path / "a.csv", "A", 2_000)))["rows_loaded"] == 2_000
    big = tickets_csv(tmp_path / "big.csv", "B", 20_000)
    size = db.stat().st_size
    # Room for the reading copy and the file's own size, but a load writes more than its file takes.
    small_disk.leave_free(size + big.stat().st_size + MB)

    result = ingest(db, big)

    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"csat-radar: {small_disk.folder}: no space left to load big.csv into warehouse.duckdb ")
    assert "(needed more than the " in line and " MB free when it began, " in line and " MB free now)" in line
    assert line.endswith("nothing was loaded; free space and run again"), line
    assert small_disk.files() == {"warehouse.duckdb"}, "no copy, no partial copy, no WAL left behind"
    tickets, batches, audited = in_warehouse(db)
    assert (tickets, batches) == (2_000, [(1, "loaded")]), "the warehouse is as it was, and opens"
    action, outcome, target, detail = audited[-1]
    assert (action, outcome, Path(target).name) == ("upload", "failed", "big.csv")
    assert "no space left to load big.csv" in json.loads(detail)["error"]

    small_disk.resize(64 * MB)
    assert loaded(ingest(db, big)) == dict(
        rows_read=20_000, rows_loaded=20_000, rows_updated=0, rows_duplicate=0, rows_rejected=0
    )
    assert small_disk.files() == {"warehouse.duckdb"}
    assert in_warehouse(db)[:2] == (22_000, [(1, "loaded"), (3, "loaded")])


def test_an_undo_on_a_full_disk_is_one_line_and_works_once_there_is_room(small_disk, tmp_path):
    db = small_disk.folder / "warehouse.duckdb"
    assert loaded(ingest(db, tickets_csv(tmp_path / "a.csv", "A", 2_000)))["rows_loaded"] == 2_000
    assert loaded(ingest(db, tickets_csv(tmp_path / "b.csv", "B", 2_000)))["rows_loaded"] == 2_000
    filler = small_disk.folder / "filler"
    with filler.open("wb") as handle, pytest.raises(OSError, match="No space left"):
        while True:  # the disk full to the last byte
            handle.write(b"\0" * 65536)
            handle.flush()

    result = run_cli("undo", "2", "--db", str(db))

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, lines  # the copy is skipped (a warning), then the undo fails
    assert "no room for the reading copy of warehouse.duckdb" in lines[0]
    assert lines[1].startswith(f"csat-radar: {small_disk.folder}: no space left to undo batch 2 in warehouse.duckdb (")
    # Not even the audit row fits on a disk full to the last byte: the line says so.
    assert "nothing was undone; free space and run again; not in the audit log (no space for it either)" in lines[1]
    assert small_disk.files() == {"warehouse.duckdb", "filler"}
    tickets, batches, audited = in_warehouse(db)
    assert (tickets, batches) == (4_000, [(1, "loaded"), (2, "loaded")])
    assert [(a, o) for a, o, _, _ in audited] == [("upload", "done"), ("upload", "done")]

    filler.unlink()
    again = run_cli("undo", "2", "--db", str(db))
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("batch 2 undone: removed 2000 rows it added")
    assert small_disk.files() == {"warehouse.duckdb"}
    tickets, batches, audited = in_warehouse(db)
    assert (tickets, batches) == (2_000, [(1, "loaded"), (2, "undone")])
    assert audited[-1][:2] == ("undo", "done")


@pytest.mark.parametrize("name", ["review.html", "review.xlsx"])
def test_a_report_on_a_full_disk_is_one_line_and_leaves_no_file(small_disk, demo, name):
    small_disk.leave_free(4096)  # room for nothing but a file's first block
    out = small_disk.folder / name
    written = run_cli("report", "--db", str(demo[0]), "--quarter", "2026Q2", "--out", str(out))
    assert written.returncode == 2, written.stdout + written.stderr
    lines = written.stderr.strip().splitlines()
    assert len(lines) == 1 and str(out) in lines[0] and "no space left on the disk" in lines[0], written.stderr
    assert small_disk.files() == set(), "neither an empty nor a cut report is left"
    small_disk.leave_free(8 * MB)
    again = run_cli("report", "--db", str(demo[0]), "--quarter", "2026Q2", "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert small_disk.files() == {name} and out.stat().st_size > 1000
