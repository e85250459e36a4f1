"""``csat-radar serve``: the dashboard, run by Streamlit in this very process."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.common import with_db
from pipelines.warehouse.store import connect, print_waiting, resolve_db_path

APP = Path(__file__).resolve().parent.parent / "app.py"


def cmd_serve(args: argparse.Namespace) -> int:
    db = resolve_db_path(args.db).resolve()
    connect(db, on_wait=print_waiting).close()  # create and migrate before the app opens it
    env = {**os.environ, "CSAT_RADAR_DB": str(db)}
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(args.port),
        "--server.address", args.address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    print(f"CSAT Radar on http://{args.address}:{args.port} (warehouse {db})", flush=True)
    # Streamlit replaces this process (same pid): a supervisor's SIGTERM or Ctrl-C reaches the
    # server itself, where a child would outlive us holding the port and the warehouse.
    os.chdir(APP.parent)
    os.execve(sys.executable, command, env)


def add_serve(sub: argparse._SubParsersAction) -> None:
    serve = with_db(sub.add_parser("serve", help="serve the dashboard"))
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="localhost")
    serve.set_defaults(handler=cmd_serve)
