"""The processes a test (or the whole suite) started, found through /proc, so none outlives its test.

pytest makes itself the "child subreaper" (Linux prctl) at start: a grandchild whose parent
dies, such as a server's own child, is adopted by pytest instead of init, so walking the parent
links from pytest's pid still finds it at the end.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time
from pathlib import Path

import pytest

PR_SET_CHILD_SUBREAPER = 36


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time in clock ticks) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[1]), int(fields[19])


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


def descendants(root: int) -> dict[int, int]:
    """Every living (not zombie) process below ``root``: pid -> start time (to tell a reused pid)."""
    parents: dict[int, list[tuple[int, str, int]]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            state, ppid, start = found
            parents.setdefault(ppid, []).append((int(entry.name), state, start))
    alive, queue = {}, [root]
    while queue:
        for pid, state, start in parents.get(queue.pop(), []):
            queue.append(pid)
            if state != "Z":
                alive[pid] = start
    return alive


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a process still running (not gone, not a zombie)."""
    found = _stat(pid)
    return found is not None and found[0] != "Z"


def still_alive(processes: dict[int, int]) -> dict[int, int]:
    """Those of ``processes`` still running (the same process: same pid and start time, not a zombie)."""
    return {
        pid: start
        for pid, start in processes.items()
        if (found := _stat(pid)) is not None and found[0] != "Z" and found[2] == start
    }


def wait_gone(processes: dict[int, int], timeout: float) -> dict[int, int]:
    """Wait up to ``timeout`` s for ``processes`` to end; returns those still running."""
    deadline = time.monotonic() + timeout
    while (left := still_alive(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def kill(processes: dict[int, int]) -> None:
    for pid in still_alive(processes):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    for pid in processes:
        with contextlib.suppress(ChildProcessError):  # not ours to reap
            os.waitpid(pid, 0)  # reap our own children and adopted orphans alike


def pytest_configure(config) -> None:
    with contextlib.suppress(OSError, AttributeError):  # not Linux: only direct descendants can be checked
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


@pytest.hookimpl(trylast=True)  # after the session's fixtures (servers, browsers) are torn down
def pytest_sessionfinish(session, exitstatus) -> None:
    """The suite fails if a process it started is still running at its end; they are killed then."""
    left = wait_gone(descendants(os.getpid()), timeout=10)
    if not left:
        return
    lines = [f"  pid {pid}: {command_line(pid)}" for pid in left]
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = f"{len(left)} process(es) started by the tests still running at the end (now killed):\n"
    if reporter is not None:
        reporter.write_line(message + "\n".join(lines), red=True)
    kill(left)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
