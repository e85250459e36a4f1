"""The dashboard in a real browser: Debian's chromium driven by Playwright against ``csat-radar serve``.

Screenshots of every page at 1440x900 with demo data, in English and in Chinese, land in
``test-artifacts/screenshots/{en,zh}/<page>.png`` (git-ignored).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from benchmarks.concurrency import healthy
from tests.conftest import ROOT
from tests.crises.reflagged import reflag

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)"
)
SHOTS = ROOT / "test-artifacts" / "screenshots"
PAGES = ["overview", "trends", "crisis_radar", "service_levels", "complaints", "upload", "quarterly_review", "admin"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_health(base: str, seconds: float = 60) -> bool:
    """Whether the Streamlit server at ``base`` says it is healthy within ``seconds`` (the benchmark's own check)."""
    return healthy(base, seconds)


@contextmanager
def serving(db: Path) -> Iterator[str]:
    """``csat-radar serve`` of ``db`` on a free port while the block runs; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port),
               "--address", "127.0.0.1"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        if not answers_health(base):
            pytest.fail("csat-radar serve did not answer within 60 s")
        yield base
    finally:
        server.terminate()  # serve is the Streamlit server itself (execve): this ends it, port and all
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def served(demo, tmp_path_factory):
    """A private demo warehouse served on a free port; yields (base URL, warehouse path)."""
    db = tmp_path_factory.mktemp("browser") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = duckdb.connect(str(db))
    reflag(con, 3)  # the demo's history ends calm: flag its latest crises again, so one is there to acknowledge
    con.close()
    with serving(db) as base:
        yield base, db


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    opened = context.new_page()
    yield opened
    context.close()


def settle(page, timeout: float = 90.0) -> None:
    """Wait until Streamlit has finished running the page's script (no running indicator for 1.5 s)."""
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=timeout * 1000)
    deadline, quiet = time.monotonic() + timeout, 0
    while quiet < 3 and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        running = page.locator("[data-testid='stStatusWidgetRunningIcon']").count()
        quiet = 0 if running else quiet + 1


def visit(page, base: str, path: str) -> None:
    page.goto(f"{base}/{path}")
    settle(page)


def tile_value(page, label: str) -> str:
    tile = page.locator("[data-testid='stMetric']", has_text=label).first
    return tile.locator("[data-testid='stMetricValue']").inner_text().strip()


def test_screenshots_of_every_page(served, page):
    """Every page at 1440x900 in English and in Chinese, saved as ``screenshots/{en,zh}/<page>.png``."""
    from pages._frame.language import PAGE_TITLES

    base, _ = served
    for lang in ("en", "zh"):
        folder = SHOTS / lang
        folder.mkdir(parents=True, exist_ok=True)
        for name in PAGES:
            visit(page, base, f"{'' if name == 'overview' else name}?lang={lang}")
            assert page.locator("[data-testid='stException']").count() == 0, (name, lang)
            title = PAGE_TITLES[name][1 if lang == "zh" else 0]
            assert page.locator("[data-testid='stMain'] h1").first.inner_text().strip() == title, (name, lang)
            page.screenshot(path=str(folder / f"{name}.png"), full_page=False)
            assert (folder / f"{name}.png").stat().st_size > 20_000, f"{name} ({lang}) screenshot looks empty"


def test_the_quarterly_review_shows_its_missed_targets_without_scrolling(served, page):
    base, _ = served
    visit(page, base, "quarterly_review")
    missed = page.get_by_text("Targets missed:").first
    box = missed.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 900, box  # within the 1440x900 window, unscrolled
    # Every KPI the review finds missed (or missed within the uncertainty) is named in that first box.
    from metrics.kpis.catalog import metric
    from metrics.kpis.settings import load_settings
    from metrics.reports.review import NEEDS_DISCUSSING, last_complete_quarter, quarterly_review

    con = duckdb.connect(str(served[1]), read_only=True)
    try:
        report = quarterly_review(con, last_complete_quarter(con), load_settings())
    finally:
        con.close()
    names = [metric(m).label for m in report.kpis.filter(report.kpis["status"].is_in(list(NEEDS_DISCUSSING)))["metric"]]
    assert names and all(name in missed.inner_text() for name in names), (names, missed.inner_text())


def test_upload_changes_the_overview_then_acknowledge_a_crisis_and_download_the_report(served, page, tmp_path):
    base, db = served
    con = duckdb.connect(str(db), read_only=True)
    week_start = con.sql("SELECT date_trunc('week', max(created_at) AT TIME ZONE 'UTC')::DATE FROM tickets").fetchall()
    week_start = week_start[0][0]
    crisis_id = con.sql("SELECT min(crisis_id) FROM crises WHERE status = 'detected'").fetchall()[0][0]
    con.close()

    visit(page, base, "")
    before = int(tile_value(page, "Tickets").replace(",", ""))

    day = week_start + timedelta(days=1)
    upload = tmp_path / "browser-upload.csv"
    upload.write_text(
        "ticket id,created at,channel,status\n"
        + "".join(f"BROWSER-{n},{day} 10:0{n},email,open\n" for n in range(3))
        + "BROWSER-BAD,not a date,email,open\n",
        encoding="utf-8",
    )
    visit(page, base, "upload")
    page.locator("input[type='file']").set_input_files(str(upload))
    settle(page)
    page.get_by_text("4 rows, 3 valid").wait_for(timeout=60_000)
    page.get_by_role("button", name="Load 1 file(s)").click()
    page.get_by_text("3 loaded, 0 updated, 0 duplicate, 1 rejected").wait_for(timeout=120_000)

    visit(page, base, "")
    assert int(tile_value(page, "Tickets").replace(",", "")) == before + 3

    visit(page, base, f"crisis_radar?crisis={crisis_id}")
    page.get_by_label("Your name (recorded with each action)").fill("Browser Test")
    page.get_by_label("Your name (recorded with each action)").press("Enter")
    settle(page)
    page.get_by_label("Owner").fill("Li Na")
    page.get_by_label("Owner").press("Enter")
    settle(page)
    page.get_by_role("button", name="Acknowledge", exact=True).click()
    settle(page)
    page.get_by_text("owner Li Na").first.wait_for(timeout=60_000)

    visit(page, base, "quarterly_review")
    with page.expect_download(timeout=60_000) as download_info:
        page.get_by_role("button", name="Download report (HTML)").click()
    saved = tmp_path / "report.html"
    download_info.value.save_as(saved)
    html = saved.read_text(encoding="utf-8")
    assert "<html" in html.lower() and "CSAT" in html
