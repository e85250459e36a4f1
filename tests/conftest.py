"""Shared test fixtures: a fresh warehouse file per test, the real exports, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from pipelines.warehouse.store import connect

# Fails the run if a test leaves a process (a server, a browser, a load) running at its end.
pytest_plugins = ["tests.processes"]

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = ROOT.parent / "shared" / "data" / "real"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


@pytest.fixture
def con(db_path: Path):
    connection = connect(db_path)
    yield connection
    connection.close()


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """A demo warehouse (seed 3) shared by every test that only reads it: (path, truth path, summary)."""
    from cli.demo import build_demo

    folder = tmp_path_factory.mktemp("demo")
    db, truth = folder / "demo.duckdb", folder / "truth.json"
    summary = build_demo(db, seed=3, truth_path=truth)
    return db, truth, summary


@pytest.fixture
def real_dir() -> Path:
    if not REAL.is_dir():
        pytest.skip(f"real exports not present at {REAL}")
    return REAL


def run_cli(
    *args: str, env: dict | None = None, timeout: int = 300, input: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``csat-radar`` as a user would, in a separate process (``input`` is its stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def export_to_lake(db: Path, lake: Path) -> dict:
    """Export the warehouse at ``db`` to a lake at ``lake`` (``csat-radar lake export``); returns its manifest."""
    from pipelines.warehouse.lake import export_lake

    con = connect(db, read_only=True)
    try:
        return export_lake(con, lake)
    finally:
        con.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def add_user_on_admin_page(app, name: str, role: str, password: str = "", segments: str = "") -> None:
    """Fill the Administration page's "Add a user" form and submit it."""
    form = app.get("form")[0]
    form.text_input[0].set_value(name)
    form.selectbox[0].set_value(role)
    form.text_input[1].set_value(password)
    form.text_input[2].set_value(segments)
    form.button[0].click()
    app.run()


def daily_tickets(first: date, last: date, per_day: int = 6) -> str:
    """A ticket export with ``per_day`` tickets on every day from ``first`` to ``last``, each answered and solved.

    Its headers are spelled in title case with spaces, as a helpdesk's export might be.
    """
    lines = ["Ticket ID,Created At,First Response At,Resolved At,Channel"]
    day = first
    while day <= last:
        for i in range(per_day):
            opened = datetime.combine(day, time(8 + i))
            lines.append(
                f"K-{day:%Y%m%d}-{i},{opened:%Y-%m-%d %H:%M},{opened + timedelta(minutes=20 + 15 * i):%Y-%m-%d %H:%M},"
                f"{opened + timedelta(hours=5):%Y-%m-%d %H:%M},{('email', 'chat')[i % 2]}"
            )
        day += timedelta(days=1)
    return "\n".join(lines) + "\n"
