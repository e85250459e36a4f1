"""User names that hide, move the terminal or format a page are refused or shown escaped; look-alikes are one user."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from pipelines.signin import access
from pipelines.warehouse.store import connect
from tests.conftest import ROOT, add_user_on_admin_page, run_cli
from tests.crises.reflagged import reflag

PASSWORD = "correct horse battery"
RULES = "a name is letters and digits of any script and . _ - @ +, starts with a letter or digit"


def add(db: Path, name: str, password: str = PASSWORD, role: str = "viewer"):
    return run_cli("users", "add", name, "--role", role, "--password-stdin", "--db", str(db), input=password + "\n")


def stored_names(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [row[0] for row in con.sql("SELECT username FROM app_users ORDER BY username").fetchall()]
    finally:
        con.close()


NOT_ALLOWED = "which is not allowed"
REFUSED = {  # the name typed, as the message shows it, and what is wrong with it
    "zero-width": ("admin\u200b", "admin\\u200b", f"has U+200B (ZERO WIDTH SPACE), {NOT_ALLOWED}"),
    "ansi": ("\x1b[2J\x1b[Hadmin", "\\x1b[2j\\x1b[hadmin", f"has U+001B (a control character), {NOT_ALLOWED}"),
    "markdown": ("**boss**", "**boss**", f"has U+002A (ASTERISK), {NOT_ALLOWED}"),
    "link": ("[boss](http://x.org)", "[boss](http://x.org)", f"has U+005B (LEFT SQUARE BRACKET), {NOT_ALLOWED}"),
    "rtl-override": ("evil\u202enimda", "evil\\u202enimda", f"has U+202E (RIGHT-TO-LEFT OVERRIDE), {NOT_ALLOWED}"),
    "invisible-mark": ("admin\u034f", "admin\\u034f", f"has U+034F (COMBINING GRAPHEME JOINER), {NOT_ALLOWED}"),
    "space": ("ann lee", "ann lee", f"has U+0020 (SPACE), {NOT_ALLOWED}"),
    "leading-dash": ("-admin", "-admin", "does not start with a letter or digit"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_the_command_line_refuses_a_name_that_hides_moves_the_terminal_or_formats_a_page(tmp_path, case):
    name, shown, why = REFUSED[case]
    db = tmp_path / "names.duckdb"
    result = run_cli("users", "add", "--role", "viewer", "--password-stdin", "--db", str(db), "--", name,
                     input=PASSWORD + "\n")  # fmt: skip
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert result.stderr == f"csat-radar: user name '{shown}' {why}: {RULES}, and has at most 128 characters\n"
    assert stored_names(db) == []


def test_a_look_alike_of_a_name_is_that_user_never_a_second_one(tmp_path):
    db = tmp_path / "names.duckdb"
    assert add(db, "admin", role="admin").returncode == 0
    for look_alike in ("ａｄｍｉｎ", "Admin", " ADMIN "):
        again = add(db, look_alike, "another password")
        assert (again.returncode, again.stderr) == (2, "csat-radar: user admin already exists\n"), look_alike
    added = add(db, "ＡＮＮ.Lee@Example.com")
    assert (added.returncode, added.stdout) == (0, "user ann.lee@example.com added as viewer\n"), added.stderr
    assert stored_names(db) == ["admin", "ann.lee@example.com"]

    # Signing in, and managing a user, find the one user whichever form is typed.
    con = connect(db)
    assert access.sign_in(con, "ａｄｍｉｎ", PASSWORD).actor == access.Actor("admin", "admin")
    assert access.sign_in(con, "Ann.Lee@EXAMPLE.com", PASSWORD).actor.name == "ann.lee@example.com"
    assert access.identity_session(con, "ANN.LEE@example.com").actor.name == "ann.lee@example.com"
    with pytest.raises(access.AccessDenied, match="wrong name or password"):
        access.sign_in(con, "admin\u200b", PASSWORD)
    with pytest.raises(access.AccessDenied, match=r"^admin\\u200b@example\.com has no role"):
        access.identity_session(con, "admin\u200b@example.com")
    con.close()
    demoted = run_cli("users", "set-role", "ＡＤＭＩＮ", "--role", "viewer", "--db", str(db))
    assert (demoted.returncode, demoted.stdout) == (0, "user admin is now viewer\n"), demoted.stderr
    assert stored_names(db) == ["admin", "ann.lee@example.com"]


def test_a_chinese_name_is_a_name(tmp_path):
    db = tmp_path / "names.duckdb"
    added = add(db, "张三")
    assert (added.returncode, added.stdout) == (0, "user 张三 added as viewer\n"), added.stderr
    con = connect(db)
    assert access.sign_in(con, "张三", PASSWORD).actor.name == "张三"
    con.close()


def test_password_stdin_drops_only_the_line_ending_crlf_included(tmp_path):
    db = tmp_path / "names.duckdb"
    assert add(db, "win", "pass from notepad\r").returncode == 0  # a file saved with CRLF endings
    assert add(db, "spaced", "  spaces count too  \r").returncode == 0
    reset = run_cli("users", "set-password", "win", "--password-stdin", "--db", str(db), input="a new password\r\n")
    assert reset.returncode == 0, reset.stderr
    con = connect(db)
    assert access.sign_in(con, "win", "a new password").actor.name == "win"
    assert access.sign_in(con, "spaced", "  spaces count too  ").actor.name == "spaced"
    with pytest.raises(access.AccessDenied):
        access.sign_in(con, "spaced", "spaces count too")
    con.close()


def older_version_names(tmp_path: Path) -> Path:
    """A warehouse holding names an older version let in, and a sign-in attempt typed with escape codes."""
    db = tmp_path / "old.duckdb"
    con = connect(db)
    access.add_user(con, "admin", "admin", PASSWORD, created_by="test")
    for name in ("**boss**", "evil\x1b[2J\x1b[31m", "admin\u200b"):
        con.execute(
            """INSERT INTO app_users (username, password_hash, role, created_at, created_by, password_set_at)
               VALUES (?, ?, 'admin', now(), 'old version', now())""",
            [name, access._hasher().hash(PASSWORD)],
        )
    with pytest.raises(access.AccessDenied):
        access.sign_in(con, "\x1b]0;pwned\x07\x1b[2J", "guess")  # the sign-in form takes any text
    con.close()
    return db


@pytest.mark.parametrize(
    "command", [("users", "list"), ("users", "list", "--csv"), ("audit",), ("audit", "--csv")], ids=" ".join
)
def test_names_stored_by_an_older_version_reach_the_terminal_escaped(tmp_path, command):
    db = older_version_names(tmp_path)
    shown = run_cli(*command, "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout and "\u200b" not in shown.stdout
    # The table wraps long cells, so there each escape is looked for on its own.
    parts = ["evil\\x1b[2J\\x1b[31m", "admin\\u200b"] if command[0] == "users" else ["\\x1b]0;pwned\\x07\\x1b[2j"]
    for part in parts if "--csv" in command else [p for whole in parts for p in re.split(r"(?=\\x)", whole) if p]:
        assert part in shown.stdout, (part, shown.stdout)  # what was typed (lower-cased at sign-in), escaped


def signed_in(db: Path, monkeypatch, who: str) -> AppTest:
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    monkeypatch.setenv(access.AUTH_ENV, "password")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.text_input(key="sign_in_name").set_value(who)
    app.text_input(key="sign_in_password").set_value(PASSWORD)
    app.button[0].click()
    app.run()
    assert not app.exception, app.exception
    return app


def test_a_name_stored_by_an_older_version_is_shown_as_text_in_the_sidebar_and_the_admin_tables(tmp_path, monkeypatch):
    db = older_version_names(tmp_path)
    boss = signed_in(db, monkeypatch, "**boss**")
    captions = [c.value for c in boss.sidebar.caption]
    assert "Signed in as **\\*\\*boss\\*\\*** (admin)" in captions, captions

    hidden = signed_in(db, monkeypatch, "admin\u200b")
    assert "Signed in as **admin\\\\u200b** (admin)" in [c.value for c in hidden.sidebar.caption]
    hidden.switch_page("pages/admin.py")
    hidden.run()
    users, _targets, audit = (frame.value for frame in hidden.dataframe)
    assert sorted(users["User"]) == ["**boss**", "admin", "admin\\u200b", "evil\\x1b[2J\\x1b[31m"]
    assert "\\x1b]0;pwned\\x07\\x1b[2j" in audit["Who"].to_list()
    assert not any("\x1b" in str(value) for value in audit.values.ravel())

    # A name the rules refuse, typed on the page, is refused there in one line, shown as text.
    add_user_on_admin_page(hidden, "**new**", "viewer", "a long enough secret")
    assert [e.value for e in hidden.error] == [
        "user name '\\*\\*new\\*\\*' has U\\+002A (ASTERISK), which is not allowed: a name is letters and digits "
        "of any script and \\. \\_ \\- \u2060\\@ \\+, starts with a letter or digit, and has at most 128 characters"
    ]
    assert sorted(stored_names(db)) == ["**boss**", "admin", "admin\u200b", "evil\x1b[2J\x1b[31m"]


def test_a_crisis_owner_typed_on_the_page_is_shown_as_text(demo, tmp_path, monkeypatch):
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = connect(db)
    reflag(con, 3)  # the demo's history ends calm: an open crisis for the page to open on
    con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/crisis_radar.py")
    app.run()
    app.text_input(key="actor").set_value("Mei").run()
    app.text_input(key="owner").set_value("**Li Na** [call](http://x.org) :red[now]\x1b[2J").run()
    next(b for b in app.button if b.label == "Acknowledge").click().run()
    assert not app.exception, app.exception
    status_line = next(m.value for m in app.markdown if "Status **acknowledged**" in m.value)
    owner = " · Owner \\*\\*Li Na\\*\\* \\[call\\](http\\:\u2060//x\\.org) \\:\u2060red\\[now\\]\\\\x1b\\[2J · flagged"
    assert owner in status_line, status_line


def test_in_a_real_browser_a_markdown_name_in_the_sidebar_reads_as_typed(tmp_path):
    """AppTest sees the markdown source; only a browser shows whether Streamlit renders the escapes as text."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    from tests.faces.test_browser import FLAGS, free_port

    name = "**boss**[x](http://x.org):red[y]`z`<b>w</b>&#8238;$x$:smile:,www.x.org,ann@x.org"
    db = tmp_path / "old.duckdb"
    con = connect(db)
    con.execute(
        """INSERT INTO app_users (username, password_hash, role, created_at, created_by, password_set_at)
           VALUES (?, ?, 'admin', now(), 'old version', now())""",
        [name, access._hasher().hash(PASSWORD)],
    )
    con.close()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port),
         "--address", "localhost"],
        cwd=ROOT, env={**os.environ, access.AUTH_ENV: "password"}, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
            page = browser.new_page()
            for _ in range(120):
                try:
                    page.goto(f"http://localhost:{port}/")
                    break
                except Exception:  # the server is still starting
                    time.sleep(0.5)
            page.get_by_label("Name", exact=True).fill(name, timeout=60_000)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            caption = page.locator("[data-testid='stSidebar'] [data-testid='stCaptionContainer']").first
            caption.get_by_text("Signed in as").wait_for(timeout=60_000)
            shown = caption.inner_text().strip().replace("\u2060", "")  # the joiners that split bare links
            assert shown == f"Signed in as {name} (admin)"
            assert caption.locator("a, b, code, .katex").count() == 0, caption.inner_html()
            assert caption.locator("strong").inner_text().replace("\u2060", "") == name
            browser.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the Streamlit it started, nothing else
        server.wait(timeout=20)


def test_a_review_and_a_segment_name_are_shown_as_text_never_as_images_or_links(demo, tmp_path, monkeypatch):
    """Text typed in the review form, and segment names from the data, reach other users' browsers."""
    from metrics.crises import handling

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo[0], db)
    beacon = "![b](https://evil.example/b.png) [sign in again](https://evil.example/phish)"
    con = connect(db)
    crisis = con.sql("SELECT min(crisis_id) FROM crises WHERE dimension = 'team'").fetchall()[0][0]
    con.execute("UPDATE crises SET segment = segment || ' ' || ? WHERE crisis_id = ?", [beacon, crisis])
    handling.acknowledge(con, crisis, owner="Ann", actor="boss")
    handling.confirm_recovery(con, crisis, actor="boss")
    handling.write_review(con, crisis, actor="boss", fishbone_category="process", five_whys=[beacon] * 5,
                          actions_taken=beacon, review_text=beacon)  # fmt: skip
    con.close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    app.switch_page("pages/crisis_radar.py")
    app.query_params["crisis"] = str(crisis)
    app.run()
    assert not app.exception, app.exception
    shown = [m.value for m in app.markdown] + [h.value for h in app.header]
    assert any("evil" in text for text in shown), "the crisis with the hostile text is the one shown"
    for text in shown:  # every mark escaped, and the address broken so it is not linked either
        assert not re.search(r"(?<!\\)!\[|(?<!\\)\]\(|https://", text), text


def test_users_list_and_audit_show_every_row_and_the_whole_detail(tmp_path):
    db = tmp_path / "many.duckdb"
    con = connect(db)
    boss = access.Actor("boss", "admin")
    for number in range(12):
        access.add_user(con, f"user{number:02d}", "viewer", PASSWORD, created_by="test")
        access.audit(con, boss, "add_user", "done", f"user{number:02d}", None)
    long_detail = "x" * 300 + "END"
    access.audit(con, boss, "set_targets", "done", "csat", {"note": long_detail})
    con.close()
    listed = run_cli("users", "list", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    for number in range(12):  # polars folds tables past ten rows into "…": an account would hide there
        assert f"user{number:02d}" in listed.stdout
    audited = run_cli("audit", "--db", str(db))
    assert audited.returncode == 0, audited.stderr
    assert audited.stdout.count("add_user") == 12 and "END" in audited.stdout


def test_segment_names_from_the_data_reach_the_terminal_escaped(tmp_path):
    db = tmp_path / "ansi.duckdb"
    source = tmp_path / "ansi.csv"
    hostile = "\x1b]0;pwned\x07\x1b[2J\x1b[31mEVIL"
    source.write_text(f"ticket_id,created_at,channel,team\nT1,2026-03-02 09:00,email,{hostile}\n", encoding="utf-8")
    loaded = run_cli("ingest", str(source), "--kind", "tickets", "--db", str(db), "--tz", "UTC")
    assert loaded.returncode == 0, loaded.stderr
    shown = run_cli("kpis", "--db", str(db), "--metric", "ticket_volume", "--by", "team", "--grain", "month")
    assert shown.returncode == 0, shown.stderr
    assert "EVIL" in shown.stdout and "\x1b" not in shown.stdout and "\x07" not in shown.stdout
