"""``csat-radar serve``: the dashboard, run by Streamlit in this very process."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cli.common import with_db
from pipelines.warehouse.lake_files import LAKE_ENV
from pipelines.warehouse.store import connect, database_file, print_waiting, resolve_db_path

APP = Path(__file__).resolve().parent.parent / "app.py"


def cmd_serve(args: argparse.Namespace) -> int:
    if args.lake:
        # The app runs on the lake's sidecar: the lake's tables and marts are views there (see
        # pipelines/warehouse/lake.py), its users, audit and crisis log the sidecar's own.
        from cli.answers import print_marts_status
        from pipelines.warehouse.lake import open_sidecar

        sidecar = open_sidecar(args.lake, args.db)
        db = database_file(sidecar)
        sidecar.close()
        print_marts_status(args.lake)
        where = f"lake {Path(args.lake).absolute()}, its state in {db}"
    else:
        db = resolve_db_path(args.db).resolve()
        connect(db, on_wait=print_waiting).close()  # create and migrate before the app opens it
        where = f"warehouse {db}"
    env = {**os.environ, "CSAT_RADAR_DB": str(db)}
    env.pop(LAKE_ENV, None)
    if args.lake:  # the app's answers are keyed on the lake's manifests too: a new export is seen at once
        env[LAKE_ENV] = str(Path(args.lake).absolute())
    command = [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(args.port),
        "--server.address", args.address,
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    print(f"CSAT Radar on http://{args.address}:{args.port} ({where})", flush=True)
    # Streamlit replaces this process (same pid): a supervisor's SIGTERM or Ctrl-C reaches the
    # server itself, where a child would outlive us holding the port and the warehouse.
    os.chdir(APP.parent)
    os.execve(sys.executable, command, env)


def add_serve(sub: argparse._SubParsersAction) -> None:
    serve = with_db(sub.add_parser("serve", help="serve the dashboard"))
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--address", default="localhost")
    serve.add_argument(
        "--lake", metavar="DIR", help="serve a lake (csat-radar lake export) and its marts (--db: its sidecar)"
    )
    serve.set_defaults(handler=cmd_serve)
