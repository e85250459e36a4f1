"""A user limited to one team, in a real browser: every page, every download, and a link naming another team.

The text of each page and of each file downloaded must not name another team; dataframes draw on a
canvas, so their content is checked through their CSV downloads.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from pipelines.signin import access
from pipelines.warehouse.store import connect
from tests.conftest import ROOT
from tests.crises.reflagged import reflag
from tests.faces.test_browser import CHROMIUM, FLAGS, answers_health, free_port, settle

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
TEAM = "Logistics"  # the demo (seed 3) has crises of teams Logistics, Onboarding and Technical
PASSWORD = "correct horse battery"
# The downloads the test reads, by page: waited for before the page's buttons are pressed.
EXPECTED = {
    "Crisis radar": ("Download crises (CSV)",),
    "Service levels": ("Download service levels by team (CSV)",),
    "Quarterly review": ("Download report (HTML)", "Download workbook (Excel)"),
}
NAV_PAGES = ["Trends", "Crisis radar", "Service levels", "Complaints", "Upload", "Quarterly review"]


@pytest.fixture(scope="module")
def limited_server(demo, tmp_path_factory):
    """The demo warehouse with sign-in on and a manager limited to one team, served on a free port.

    Yields (base URL, the other teams' names, the id of a crisis of another team).
    """
    db = tmp_path_factory.mktemp("segments") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = connect(db)
    access.add_user(con, "lead", "manager", PASSWORD, {"team": [TEAM]}, created_by="test")
    reflag(con, 3, first=("team", TEAM))  # the demo's history ends calm: the team's and others' latest flagged again
    others = [t for (t,) in con.sql("SELECT DISTINCT team FROM tickets WHERE team <> ?", params=[TEAM]).fetchall()]
    foreign = con.sql("SELECT min(crisis_id) FROM crises WHERE dimension = 'team' AND segment = 'Onboarding'")
    foreign = foreign.fetchall()[0][0]
    con.close()
    port = free_port()
    command = [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port),
               "--address", "127.0.0.1"]  # fmt: skip
    # Its own process group: `serve` starts streamlit as a child, which outlives a terminated parent.
    server = subprocess.Popen(command, cwd=ROOT, env={**os.environ, access.AUTH_ENV: "password"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        if not answers_health(base):
            pytest.fail("csat-radar serve did not answer within 60 s")
        yield base, others, foreign
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


@pytest.fixture(scope="module")
def tab():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def sign_in(page, url: str) -> None:
    """Open ``url`` in a new session and sign in there as the limited manager."""
    page.goto(url)
    settle(page)
    page.get_by_label("Name", exact=True).fill("lead")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for(timeout=60_000)
    settle(page)


def named(text: str, teams: list[str]) -> list[str]:
    return [team for team in teams if re.search(rf"\b{re.escape(team)}\b", text)]


def check_text(page, others: list[str], where: str) -> str:
    assert page.locator("[data-testid='stException']").count() == 0, where
    text = page.locator("body").inner_text()
    assert named(text, others) == [], f"{where} names other teams"
    return text


def open_expanders(page) -> None:
    closed = page.locator("[data-testid='stExpander'] details:not([open]) > summary")
    if closed.count():
        for _ in range(closed.count()):  # each click opens one, so the first closed one is always next
            closed.first.click()
        settle(page)


def downloads(page, others: list[str], where: str, expected: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Press every download button of the page (expanders opened first); each file must name no other team.

    ``expected`` are labels the page must offer: waited for, so a button drawn late is not skipped.
    Buttons are found again by label for each press, as a rerun after a download redraws the page.
    """
    open_expanders(page)
    scope = page.locator("[data-testid='stDownloadButton']")
    for label in expected:
        button = scope.get_by_role("button", name=label, exact=True).first
        try:
            button.wait_for(timeout=60_000)
        except Exception:
            alerts = page.locator("[data-testid='stAlert']").all_inner_texts()
            pytest.fail(f"{where}: no button {label!r}; the page says {alerts}")
    labels = [label.strip() for label in scope.locator("button").all_inner_texts()]
    files = {}
    for label in dict.fromkeys(labels):
        open_expanders(page)  # a rerun after a download may close them again
        button = scope.get_by_role("button", name=label, exact=True).first
        with page.expect_download(timeout=60_000) as info:
            button.click()
        content = Path(info.value.path()).read_bytes()
        files[label] = content
        if label.endswith("(CSV)") or label.endswith("(HTML)"):
            assert named(content.decode("utf-8-sig"), others) == [], f"{where}: {label} names other teams"
        settle(page)
    return files


def go_to(page, title: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=title).first.click()
    page.wait_for_function(
        "t => document.querySelector(\"[data-testid='stMain'] h1\")?.innerText.trim() === t", arg=title
    )
    settle(page)


def test_a_limited_manager_sees_and_downloads_only_their_team_on_every_page(limited_server, tab):
    base, others, _ = limited_server
    sign_in(tab, f"{base}/?team=Onboarding&team={TEAM}")  # a link naming another team too
    text = check_text(tab, others, "overview")
    assert f"team {TEAM}" in text  # their own open crises are listed
    assert "team=Onboarding" not in tab.url
    found = {}
    for title in NAV_PAGES:
        go_to(tab, title)
        check_text(tab, others, title)
        found[title] = downloads(tab, others, title, EXPECTED.get(title, ()))
        check_text(tab, others, f"{title} after its downloads")
    by_team = pl.read_csv(io.BytesIO(found["Service levels"]["Download service levels by team (CSV)"]))
    assert by_team["team"].to_list() == [TEAM]
    crises = pl.read_csv(io.BytesIO(found["Crisis radar"]["Download crises (CSV)"]))
    assert crises.height and set(crises["where"]) == {f"team {TEAM}"}
    review = found["Quarterly review"]
    assert f"team {TEAM}" in review["Download report (HTML)"].decode()
    sheet = pl.read_excel(review["Download workbook (Excel)"], sheet_name="Crises")
    assert set(sheet["Where"]) == {f"team {TEAM}"}
    cells = " ".join(str(v) for column in sheet.columns for v in sheet[column].to_list())
    assert named(cells, others) == []
    review_crises = next(content for label, content in review.items() if label.startswith("Download crises 20"))
    assert set(pl.read_csv(io.BytesIO(review_crises))["where"]) == {f"team {TEAM}"}


def test_a_link_to_another_teams_crisis_or_to_administration_shows_nothing_of_it(limited_server, tab):
    base, others, foreign = limited_server
    sign_in(tab, base)  # a fresh server runs a page named in the URL only once st.navigation has run
    sign_in(tab, f"{base}/crisis_radar?crisis={foreign}&team=Onboarding")  # a shared link
    check_text(tab, others, "a link to another team's crisis")
    # Signing in lands on the overview; the link's page is reached within the signed-in session as
    # the browser's Back button would: Streamlit runs the page of the address with its query string.
    tab.evaluate(f"history.pushState(null, '', '/crisis_radar?crisis={foreign}&team=Onboarding')")
    tab.evaluate("window.dispatchEvent(new PopStateEvent('popstate'))")
    tab.wait_for_function(
        "() => document.querySelector(\"[data-testid='stMain'] h1\")?.innerText.trim() === 'Crisis radar'"
    )
    settle(tab)
    tab.get_by_text(f"Crisis {foreign} is not in the log or outside the segments you may see.").wait_for(timeout=30_000)
    text = check_text(tab, others, "another team's crisis")
    assert f"#{foreign}:" not in text
    sign_in(tab, f"{base}/admin")
    text = check_text(tab, others, "administration")
    assert "Add a user" not in text and "Audit log" not in text
