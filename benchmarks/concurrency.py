"""Many managers at once: N sessions open the Overview together, then the other main pages.

``python -m benchmarks.concurrency DB [--sessions N] [--browser]`` serves a copy of ``DB`` with
``csat-radar serve`` (the server opens its warehouse for writing, so a shared file is never served
itself), releases N sessions at once and prints one JSON object: per page p50/p95/max seconds,
the errors, and the server's peak memory.

By default each session is a websocket client speaking Streamlit's own protocol (see
``benchmarks.stream_client``): managers' browsers run on their own machines, while twenty local
Chromium tabs on a small machine starve the server and the figure measures the browsers. A page
counts as loaded when the server's ``script_finished`` says its run finished successfully, with
no exception drawn. ``--browser`` drives N browser contexts of Debian's chromium through
Playwright instead; there a page also needs its own title drawn in the main area. Timeouts,
exceptions shown on the page, scripts that did not finish successfully and lost connections are
errors in both modes.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.stream_client import PageError, StreamSession

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]  # fmt: skip
# The Overview first (a session's first run), then the other main pages by the sidebar's links,
# as a manager clicks through them: (url path, English title drawn as the page's heading).
PAGES = [
    ("", "Overview"),
    ("trends", "Trends"),
    ("crisis_radar", "Crisis radar"),
    ("service_levels", "Service levels"),
    ("complaints", "Complaints"),
    ("quarterly_review", "Quarterly review"),
]
PAGE_TIMEOUT = float(os.environ.get("CONCURRENCY_PAGE_TIMEOUT", "180"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(base: str, seconds: float) -> bool:
    """Whether the Streamlit server at ``base`` says it is healthy within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def _tree(root: int) -> list[int]:
    """``root`` and every process below it (the server and any child it starts)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with suppress(OSError, ValueError, IndexError):
                text = Path(f"/proc/{entry.name}/stat").read_text()
                children.setdefault(int(text[text.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _status_kib(pid: int, key: str) -> int:
    with suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _cpu_seconds(pid: int) -> float:
    with suppress(OSError, ValueError, IndexError):
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _clients_cpu_seconds() -> float:
    """CPU time of this process (the websocket clients) and of every process it started and reaped so
    far (the server, Playwright, chromium): less the server's, what the clients took."""
    return sum(
        u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


class MemoryWatch:
    """Samples the server tree's resident memory while the sessions run; VmHWM is read at the end."""

    def __init__(self, pid: int, every: float = 0.2):
        self.pid, self.every, self.peak_kib = pid, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, sum(_status_kib(p, "VmRSS") for p in _tree(self.pid)))
            self._stop.wait(self.every)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict:
        tree = _tree(self.pid)
        return {
            "server_vmhwm_mib": round(_status_kib(self.pid, "VmHWM") / 1024, 1),
            "tree_vmhwm_sum_mib": round(sum(_status_kib(p, "VmHWM") for p in tree) / 1024, 1),
            "tree_peak_rss_sampled_mib": round(self.peak_kib / 1024, 1),
            "server_processes": len(tree),
            "server_cpu_seconds": round(sum(_cpu_seconds(p) for p in tree), 1),
        }


@contextmanager
def serving(db: Path):
    """``csat-radar serve --db DB`` on a free port in its own process group; yields (base URL, pid).

    The whole group is ended on leaving, however the block ends (Streamlit may start children).
    """
    port = _free_port()
    command = [sys.executable, "-m", "cli.main", "serve", "--db", str(db), "--port", str(port),
               "--address", "127.0.0.1"]  # fmt: skip
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            if not healthy(base, 120):
                log.seek(0)
                raise RuntimeError(f"csat-radar serve did not answer within 120 s: {log.read()[-2000:].decode()}")
            yield base, server.pid
        finally:
            _end_group(server)


def _end_group(server: subprocess.Popen) -> None:
    """End the server's whole process group: politely, then by force, and reap it."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        try:
            server.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # any child left in the group


@dataclass
class Session:
    """One manager's browser tab: the runs the server finished on its websocket, and what each page took."""

    number: int
    finished: int = 0
    failed_runs: list[str] = field(default_factory=list)
    opening: str = ""
    times: dict[str, float] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def on_frame(self, payload: bytes | str) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if isinstance(payload, str):
            return
        message = ForwardMsg()
        message.ParseFromString(payload)
        if message.WhichOneof("type") != "script_finished":
            return
        status = message.script_finished
        if status == ForwardMsg.FINISHED_SUCCESSFULLY:
            self.finished += 1
        elif status != ForwardMsg.FINISHED_EARLY_FOR_RERUN:  # a rerun follows: its end is what counts
            self.failed_runs.append(ForwardMsg.ScriptFinishedStatus.Name(status))
        self.changed.set()

    def on_websocket(self, websocket) -> None:
        if websocket.url.endswith("/_stcore/stream"):
            websocket.on("framereceived", self.on_frame)
            websocket.on("close", lambda _: self._closed())

    def _closed(self) -> None:
        # The page shows "Connecting" and Streamlit's frontend reconnects and runs the page again:
        # an error for the page being opened, and the wait goes on for that run to finish.
        if self.opening:  # not the tab closing at the end
            self.errors.append(f"{self.opening}: connection to the server lost (the page reconnects)")

    async def run_ended(self, before: int, deadline: float) -> None:
        """Until a run after the ``before``-th has finished successfully; TimeoutError, RuntimeError otherwise."""
        while self.finished <= before:
            if self.failed_runs:
                raise RuntimeError(f"script {self.failed_runs.pop()}")
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), max(0.0, deadline - time.monotonic()))


async def _open(session: Session, tab, base: str, path: str, title: str) -> None:
    """Open one page (the first by its address, the rest by the sidebar's link) and time it until loaded."""
    before, started = session.finished, time.monotonic()
    session.opening = title
    deadline = started + PAGE_TIMEOUT
    try:
        if not path:
            await tab.goto(f"{base}/", wait_until="commit")
        else:
            await tab.locator(f"[data-testid='stSidebarNav'] a[href$='/{path}']").first.click(
                timeout=PAGE_TIMEOUT * 1000
            )
        await session.run_ended(before, deadline)
        # The page's own title, or an exception shown in its place (then there is no title to wait for).
        heading = tab.locator("[data-testid='stMain'] h1", has_text=title)
        exception = tab.locator("[data-testid='stException']")
        await heading.or_(exception).first.wait_for(timeout=max(1.0, deadline - time.monotonic()) * 1000)
        shown = await exception.all_inner_texts()
        if shown:
            session.errors.append(f"{title}: exception shown: {shown[0].splitlines()[0][:200]}")
        else:
            session.times[title] = time.monotonic() - started
    except TimeoutError as exc:
        session.errors.append(f"{title}: not loaded within {PAGE_TIMEOUT:.0f} s ({type(exc).__name__})")
    except Exception as exc:  # a Playwright error or a failed run: recorded, and the session goes on
        session.errors.append(f"{title}: {str(exc).splitlines()[0][:200]}")


async def _manager(browser, base: str, session: Session, ready: asyncio.Barrier, go: asyncio.Event) -> None:
    """One manager as a browser tab (Chromium through Playwright), clicking through the pages."""
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        tab = await context.new_page()
        tab.on("websocket", session.on_websocket)
        await ready.wait()
        await go.wait()  # every session released at the same moment
        for path, title in PAGES:
            await _open(session, tab, base, path, title)
        session.opening = ""
    finally:
        await context.close()


async def _wave(manager, base: str, sessions: int) -> tuple[list[Session], float]:
    """``sessions`` fresh sessions run by ``manager``, released together at a barrier; their timings and wall time."""
    managers = [Session(n) for n in range(sessions)]
    ready, go = asyncio.Barrier(sessions + 1), asyncio.Event()
    tasks = [asyncio.create_task(manager(base, m, ready, go)) for m in managers]
    await ready.wait()
    started = time.monotonic()
    go.set()
    await asyncio.gather(*tasks)
    return managers, time.monotonic() - started


async def _stream_manager(base: str, session: Session, ready: asyncio.Barrier, go: asyncio.Event) -> None:
    """One manager as a websocket client of Streamlit's own protocol: no browser shares the server's cores."""
    import websockets

    client = StreamSession(base)
    await ready.wait()
    await go.wait()
    try:
        for path, title in PAGES:
            try:
                session.times[title] = await client.open_page(path, PAGE_TIMEOUT)
            except TimeoutError:
                session.errors.append(f"{title}: not finished within {PAGE_TIMEOUT:.0f} s")
            except PageError as exc:
                session.errors.append(f"{title}: {exc}")
            except (websockets.ConnectionClosed, OSError) as exc:
                # As the browser's frontend does, the next page reconnects (a new server session).
                session.errors.append(f"{title}: connection to the server lost ({type(exc).__name__}: {exc})")
                await client.close()
                client.websocket = None
    finally:
        await client.close()


async def _drive_stream(base: str, sessions: int, waves: int) -> list[tuple[list[Session], float]]:
    return [await _wave(_stream_manager, base, sessions) for _ in range(waves)]


async def _drive(base: str, sessions: int, waves: int) -> list[tuple[list[Session], float]]:
    from playwright.async_api import async_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise RuntimeError("Debian's chromium is not installed (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        try:
            manager = functools.partial(_manager, browser)
            return [await _wave(manager, base, sessions) for _ in range(waves)]
        finally:
            await browser.close()


def _percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: of 20 values, p95 is the 19th smallest."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * share) - 1)]


def summarise(managers: list[Session]) -> dict:
    pages = {}
    for _, title in PAGES:
        times = [m.times[title] for m in managers if title in m.times]
        pages[title] = {
            "loaded": len(times),
            "p50_s": round(statistics.median(times), 2) if times else None,
            "p95_s": round(_percentile(times, 0.95), 2) if times else None,
            "max_s": round(max(times), 2) if times else None,
        }
    errors = [f"session {m.number}: {e}" for m in managers for e in m.errors]
    return {"pages": pages, "errors": errors, "error_count": len(errors)}


def _wave_result(managers: list[Session], wall: float) -> dict:
    result = {"wall_s": round(wall, 1), **summarise(managers)}
    worst = [p["p95_s"] for p in result["pages"].values()]
    result["worst_p95_s"] = None if None in worst else max(worst)
    return result


def measure(db: Path, sessions: int = 20, copy: bool = True, waves: int = 1, mode: str = "websocket") -> dict:
    """Serve ``db`` (a private copy unless ``copy`` is False), open ``sessions`` sessions at once.

    ``mode`` "websocket" speaks Streamlit's protocol directly (the server's time alone); "browser"
    drives Chromium tabs, whose rendering shares this machine's cores with the server.

    Returns per page p50/p95/max seconds, the errors, the server's peak memory and CPU time. The
    first wave meets a server just started (nothing cached, as after a load); with ``waves`` > 1,
    the later waves (under ``"later_waves"``) meet the same server with the answers computed.
    """
    db = Path(db).resolve()
    clients_before = _clients_cpu_seconds()
    with tempfile.TemporaryDirectory(prefix="csat-concurrency-") as folder:
        served = db
        if copy:
            served = Path(folder) / db.name
            shutil.copy(db, served)
        with serving(served) as (base, pid):
            idle_kib = sum(_status_kib(p, "VmRSS") for p in _tree(pid))
            with MemoryWatch(pid) as watch:
                done = asyncio.run((_drive if mode == "browser" else _drive_stream)(base, sessions, waves))
            memory = watch.report()
    first, *later = (_wave_result(managers, wall) for managers, wall in done)
    result = {"db": str(db), "mode": mode, "sessions": sessions, **first}
    if later:
        result["later_waves"] = later
    result["memory"] = {"server_idle_rss_mib": round(idle_kib / 1024, 1), **memory}
    # The clients share the machine with the server: their CPU time says how much of it they took.
    result["client_cpu_seconds"] = round(_clients_cpu_seconds() - clients_before - memory["server_cpu_seconds"], 1)
    result["load_average"] = os.getloadavg()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.concurrency", description=__doc__.split("\n")[0])
    parser.add_argument("db", type=Path, help="the warehouse to serve (a copy of it is served)")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--waves", type=int, default=1, help="waves of sessions on the same server (later: warm)")
    parser.add_argument("--browser", action="store_true", help="drive Chromium tabs, not websocket clients")
    parser.add_argument("--no-copy", action="store_true", help="serve DB itself (it is opened for writing)")
    args = parser.parse_args(argv)
    mode = "browser" if args.browser else "websocket"
    # A SIGTERM (a supervisor, a timeout) unwinds like Ctrl-C, so the server and browsers are ended.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(json.dumps(measure(args.db, args.sessions, copy=not args.no_copy, waves=args.waves, mode=mode), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
