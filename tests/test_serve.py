"""``csat-radar serve`` as a supervisor runs it: stopped by a signal, it leaves no process behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.processes import descendants, kill, still_alive, wait_gone


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(db: Path, port: int, env: dict | None = None) -> subprocess.Popen:
    """``csat-radar serve`` on ``port``, returned once it answers its health check."""
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "serve", "--db", str(db), "--port", str(port),
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
