"""A load killed at any moment leaves the warehouse as it was before that file, and it opens again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import duckdb
import polars as pl
import pytest

from tests.conftest import ROOT

ROWS = 150_000


@pytest.fixture(scope="module")
def big_export(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.csv"
    pl.DataFrame(
        {
            "ticket id": [f"K{i}" for i in range(ROWS)],
            "created at": pl.datetime_range(
                pl.datetime(2025, 1, 1), pl.datetime(2025, 1, 1) + pl.duration(minutes=ROWS - 1), "1m", eager=True
            ).dt.strftime("%Y-%m-%d %H:%M"),
            "status": ["open", "solved", "closed"] * (ROWS // 3),
        }
    ).write_csv(path)
    return path


def ingest_process(path, db, env=None):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipelines.cli",
            "ingest",
            str(path),
            "--kind",
            "tickets",
            "--tz",
            "UTC",
            "--db",
            str(db),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )


def state(db):
    con = duckdb.connect(str(db))
    try:
        return (
            con.sql("SELECT count(*) FROM tickets").fetchall()[0][0],
            con.sql("SELECT count(*), coalesce(sum(rows_loaded), 0) FROM batches").fetchall()[0],
        )
    finally:
        con.close()


@pytest.mark.parametrize("reading", ["whole", "streamed"])
def test_kill_mid_load_is_all_or_nothing(big_export, tmp_path, reading):
    # Streamed: the file is read in parts as a large one would be, and killed between or inside them.
    env = {"CSAT_RADAR_STREAM_MB": "0"} if reading == "streamed" else {}
    db = tmp_path / "w.duckdb"
    started = time.monotonic()
    assert ingest_process(big_export, db, env).wait(timeout=300) == 0
    full_run = time.monotonic() - started
    assert state(db) == (ROWS, (1, ROWS))

    for fraction in (0.5, 0.75, 0.9, 0.97):
        victim = tmp_path / f"kill-{fraction}.duckdb"
        proc = ingest_process(big_export, victim, env)
        time.sleep(full_run * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        if not victim.exists():
            continue  # killed before the warehouse was even created
        tickets, batches = state(victim)
        # Either nothing of the file landed or all of it did, with its batch record.
        assert (tickets, batches) in {(0, (0, 0)), (ROWS, (1, ROWS))}
