"""The concurrency benchmark's own parts: every page counted as loaded, memory read, nothing left running."""

from __future__ import annotations

import os
import shutil

import pytest

from benchmarks.concurrency import PAGES, measure
from tests.processes import descendants

no_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)",
)


def test_two_websocket_sessions_finish_every_main_page_and_leave_no_server_behind(demo):
    result = measure(demo[0], sessions=2)
    assert result["mode"] == "websocket"
    assert result["errors"] == []
    assert set(result["pages"]) == {title for _, title in PAGES}
    assert all(page["loaded"] == 2 for page in result["pages"].values()), result["pages"]
    assert result["worst_p95_s"] is not None
    assert result["memory"]["server_vmhwm_mib"] >= result["memory"]["server_idle_rss_mib"] > 0
    assert descendants(os.getpid()) == {}  # the server and anything it started ended


@no_chromium
def test_two_browser_sessions_load_every_main_page_and_leave_no_server_or_browser_behind(demo):
    result = measure(demo[0], sessions=2, waves=2, mode="browser")
    assert result["mode"] == "browser"
    assert result["errors"] == []
    assert set(result["pages"]) == {title for _, title in PAGES}
    for wave in (result, *result["later_waves"]):
        assert all(page["loaded"] == 2 for page in wave["pages"].values()), wave["pages"]
        assert wave["worst_p95_s"] is not None
    assert result["memory"]["server_vmhwm_mib"] >= result["memory"]["server_idle_rss_mib"] > 0
    assert descendants(os.getpid()) == {}  # the server, Playwright's driver and chromium all ended
