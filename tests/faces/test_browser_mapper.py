"""The Upload page's column mapper in a real browser: a file of unknown headers is mapped by hand and saved as a
profile, and the next file with those headers loads with no questions.
"""

from __future__ import annotations

import re
import time

import duckdb
import pytest

from pipelines.warehouse.store import connect
from tests.faces.test_browser import CHROMIUM, FLAGS, serving, settle

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")

# No profile knows this desk: two columns are unique and neither is named like an id, so the page
# must ask which one is the case's; 'Chan.' is no usual name for a channel.
HEADERS = "Dossier,Badge,Logged On,Closed On,Chan.\n"
MAY = HEADERS + "".join(
    f"AC-{n:03},K{n * 7},2026-05-{n:02} 09:00,2026-05-{n:02} 16:45,{['Web', 'Phone', 'Mail'][n % 3]}\n"
    for n in range(1, 9)
)
JUNE = HEADERS + "".join(
    f"AC-{n:03},K{n * 11},2026-06-{n - 20:02} 08:30,2026-06-{n - 20:02} 12:00,{['Chat', 'Web'][n % 2]}\n"
    for n in range(21, 26)
)


@pytest.fixture
def served(tmp_path):
    """An empty warehouse served on a free port; yields (base URL, warehouse path)."""
    db = tmp_path / "mapper.duckdb"
    connect(db).close()
    with serving(db) as base:
        yield base, db


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1440, "height": 2400})
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def drop_down(page, label: str):
    """The drop-down labelled exactly ``label`` (Streamlit draws a combobox named by its label)."""
    return page.get_by_role("combobox", name=label, exact=True)


def choose(page, label: str, option: str) -> None:
    """Open the drop-down ``label`` and pick the option starting with ``option``."""
    drop_down(page, label).click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(option)}")).first.click()
    settle(page)


def reading(db, seconds: float = 30.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection to ``db`` once the server is not holding it (it opens it for each read)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return duckdb.connect(str(db), read_only=True)
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def upload(page, path) -> None:
    page.locator("input[type='file']").set_input_files(str(path))
    settle(page)


def test_a_file_mapped_by_hand_and_saved_makes_the_next_one_load_with_no_questions(served, page, tmp_path):
    base, db = served
    may, june = tmp_path / "desk-may.csv", tmp_path / "desk-june.csv"
    may.write_text(MAY, encoding="utf-8")
    june.write_text(JUNE, encoding="utf-8")
    page.goto(f"{base}/upload")
    settle(page)
    page.get_by_label("Time zone of the timestamps (when the file does not say)").fill("UTC")
    page.get_by_label("Time zone of the timestamps (when the file does not say)").press("Enter")
    settle(page)

    upload(page, may)
    page.get_by_text("desk-may.csv: no column for ticket_id; choose one above.").wait_for(timeout=60_000)
    assert "--map" not in page.locator("[data-testid='stMain']").inner_text()
    assert page.get_by_role("button", name=re.compile("^Load")).count() == 0
    # The guesses it is sure of are filled in, with their reasons; the id is left to the user.
    assert drop_down(page, "created_at (required)").input_value().startswith("Logged On (e.g. 2026-05-01 09:00")
    page.get_by_text(re.compile(r"^guessed: never before 'Logged On'")).first.wait_for(timeout=10_000)

    choose(page, "ticket_id (required)", "Dossier (e.g. AC-001")
    choose(page, "channel", "Chan. (e.g. ")
    page.get_by_text("8 rows, 8 valid").wait_for(timeout=60_000)
    page.get_by_label("Save these columns as a profile named (optional)", exact=True).fill("acme desk")
    page.get_by_label("Save these columns as a profile named (optional)", exact=True).press("Enter")
    settle(page)
    page.get_by_role("button", name="Load 1 file(s)").click()
    loaded = re.compile(r"desk-may\.csv: 8 rows read: 8 loaded.*Its data runs up to 2026-05-08 16:45 UTC")
    page.get_by_text(loaded).wait_for(timeout=120_000)

    page.goto(f"{base}/upload")  # a new visit: nothing of the first file's choices is left on the page
    settle(page)
    upload(page, june)
    page.get_by_text(re.compile(r"profile acme desk: 5 rows, 5 valid")).first.wait_for(timeout=60_000)
    assert drop_down(page, "ticket_id (required)").input_value().startswith("Dossier (e.g. AC-021")
    assert drop_down(page, "channel").input_value().startswith("Chan. (e.g. Web, Chat")
    assert page.get_by_text("no column for").count() == 0
    page.get_by_role("button", name="Load 1 file(s)").click()
    page.get_by_text(re.compile(r"desk-june\.csv: 5 rows read: 5 loaded")).wait_for(timeout=120_000)
    settle(page)  # the page's last reads done: the server lets go of the warehouse

    con = reading(db)
    try:
        assert con.sql("SELECT count(*), count(DISTINCT channel) FROM tickets").fetchall() == [(13, 4)]
        assert con.sql("SELECT profile FROM batches ORDER BY batch_id").fetchall() == [("generic",), ("acme desk",)]
        assert con.sql("SELECT name, kind FROM saved_profiles").fetchall() == [("acme desk", "tickets")]
    finally:
        con.close()
