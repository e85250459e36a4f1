"""``csat-radar serve`` as a supervisor runs it: stopped by a signal, it leaves no process behind."""

from __future__ import annotations

import ast
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pages._frame.language import PAGE_TITLES
from pipelines.signin import access
from pipelines.warehouse.store import connect
from tests.conftest import ROOT
from tests.faces.test_browser import CHROMIUM, FLAGS, free_port, settle
from tests.processes import descendants, is_running, kill, still_alive, wait_gone


def start_serve(db: Path, port: int, env: dict | None = None) -> subprocess.Popen:
    """``csat-radar serve`` on ``port``, returned once it answers its health check."""
    server = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port),
         "--address", "127.0.0.1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})},
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.3)
    stop(server)
    pytest.fail(f"csat-radar serve did not answer on port {port} (exit code {server.poll()})")


def stop(server: subprocess.Popen) -> None:
    """Terminate ``server`` and everything it started, and wait for them: a test's teardown."""
    started = {server.pid: 0, **descendants(server.pid)}
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    kill({pid: start for pid, start in started.items() if pid != server.pid})


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("stopped_by", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stopped_by_a_signal_ends_its_server_and_frees_the_port(tmp_path, stopped_by):
    port = free_port()
    server = start_serve(tmp_path / "warehouse.duckdb", port)
    try:
        processes = {**descendants(server.pid)}
        server.send_signal(stopped_by)  # to serve's own pid only, as `docker stop` or a supervisor does
        server.wait(timeout=30)
        left = wait_gone(processes, timeout=15)
        assert not left, f"still running after serve ended: {sorted(left)}"
        assert port_is_free(port), f"port {port} still answers after serve ended"
    finally:
        stop(server)
        kill(still_alive(processes) if "processes" in locals() else {})


# The gate through a real browser: a fresh server in Streamlit's old multipage mode, entered by a page's URL.
PASSWORD = "a long enough secret"
TITLES = {name: english for name, (english, _) in PAGE_TITLES.items()}


@pytest.fixture(scope="module")
def signed_demo(demo, tmp_path_factory) -> Path:
    """The demo warehouse with one administrator, for servers that require sign-in."""
    db = tmp_path_factory.mktemp("gate") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = connect(db)
    access.add_user(con, "boss", "admin", PASSWORD, created_by="test")
    con.close()
    return db


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def only_the_sign_in_form(page) -> None:
    """The page shows the sign-in form and nothing of the warehouse: no tile, crisis, count or sidebar data."""
    page.get_by_label("Name", exact=True).wait_for(timeout=60_000)
    settle(page)
    main = page.locator("[data-testid='stMain']")
    assert main.locator("h1").all_inner_texts() == ["CSAT Radar"]
    assert page.get_by_label("Name", exact=True).count() == 1 and page.locator("input[type='password']").count() == 1
    assert page.locator("[data-testid='stMetric']").count() == 0, "no KPI tile before sign-in"
    shown = main.inner_text()
    for words in ("Recommended response", "Open crises", "Crisis", "tickets", "Warehouse"):
        assert words not in shown, f"{words!r} is shown before sign-in"
    assert (
        page.locator("[data-testid='stSidebar']").count() == 0
        or "Warehouse" not in page.locator("[data-testid='stSidebar']").inner_text()
    )


@pytest.mark.browser
def test_no_page_url_shows_more_than_the_sign_in_form_on_a_fresh_server(signed_demo, browser):
    """Until the first sign-in the server stays in Streamlit's old multipage mode, so one server serves every URL."""
    port = free_port()
    server = start_serve(signed_demo, port, env={access.AUTH_ENV: "password"})
    try:
        for path in ["", *TITLES, "app", "_frame", "ui", "entry"]:
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            try:
                page = context.new_page()
                page.goto(f"http://127.0.0.1:{port}/{path}")
                only_the_sign_in_form(page)
            finally:
                context.close()
    finally:
        stop(server)


@pytest.mark.browser
@pytest.mark.parametrize("path", ["", "crisis_radar", "quarterly_review"])
def test_signing_in_from_a_page_url_on_a_fresh_server_opens_that_page(signed_demo, browser, path):
    port = free_port()
    server = start_serve(signed_demo, port, env={access.AUTH_ENV: "password"})
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/{path}")
        only_the_sign_in_form(page)
        page.get_by_label("Name", exact=True).fill("boss")
        page.locator("input[type='password']").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_text("Signed in as").wait_for(timeout=60_000)
        settle(page)
        main = page.locator("[data-testid='stMain']")
        assert main.locator("h1").first.inner_text().strip() == TITLES[path or "overview"]
        if path == "":
            # the tiles are computed after the title: wait for the fifth rather than count them at once
            page.locator("[data-testid='stMetric']").nth(4).wait_for(timeout=90_000)
        assert page.locator("[data-testid='stException']").count() == 0
    finally:
        context.close()
        stop(server)


def test_every_page_starts_with_the_gate_and_pages_holds_only_pages():
    """A new page that forgets ``enter()`` would run without the sign-in gate on a fresh server.

    Streamlit's old multipage mode serves every ``pages/*.py`` as a page (listed in the sidebar
    before the first sign-in), so the shared code lives in ``pages/_frame/``, which it does not scan.
    """
    pages = sorted((ROOT / "pages").glob("*.py"))
    assert {p.stem for p in pages} == set(PAGE_TITLES), "every file in pages/ is a navigable page"
    for path in pages:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        first = body[0]
        assert (
            isinstance(first, ast.Expr)
            and isinstance(first.value, ast.Call)
            and isinstance(first.value.func, ast.Name)
            and first.value.func.id == "enter"
        ), f"{path.name} must start with enter() after its imports"
        imported = {(n.module, a.name) for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
        assert ("pages._frame.entry", "enter") in imported, path.name


def test_a_test_that_leaves_a_process_running_fails_the_run_which_names_and_ends_it(tmp_path):
    pid_file = tmp_path / "pid"
    (tmp_path / "test_leaves_one.py").write_text(
        "import subprocess, sys\n"
        "def test_starts_and_forgets():\n"
        f"    child = subprocess.Popen(['sleep', '300'])\n"
        f"    open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.processes", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    pid = int(pid_file.read_text())
    assert run.returncode == pytest.ExitCode.TESTS_FAILED, run.stdout + run.stderr
    assert "1 process(es) started by the tests still running at the end (now killed):" in run.stdout
    assert f"pid {pid}: sleep 300" in run.stdout
    assert not is_running(pid), "the leftover was ended"
